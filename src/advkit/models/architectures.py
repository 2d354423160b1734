"""Small reference architectures used by published robust and certified classifiers.

Problem solved: the pretrained checkpoints of the robustness literature are plain state
dicts; loading them needs the exact architecture, with module names matching the
checkpoint keys. Each factory here rebuilds one of them (10 classes, input N×C×H×W in the
model's own input scale; see :mod:`advkit.models.registry` for the normalization).

Notation: Conv(in, out, kernel, stride, padding); every hidden layer is followed by ReLU.

- :func:`kw_small` — Wong & Kolter 2018 (convex_adversarial) "small" MNIST/CIFAR model.
- :func:`eran_conv_small` — ERAN ConvSmall (Singh et al. 2019), as in alpha-beta-CROWN.
- :func:`oval_base` — OVAL "base" CIFAR model (Lu & Kumar 2020), as in alpha-beta-CROWN.
- :func:`mlp` — fully connected ReLU network, e.g. ``mlp(784, 20, 10)``.
- :func:`cnn_small`, :func:`fc_3layer` — auto_LiRPA (Xu et al. 2020) MNIST examples.
- :func:`lenet5` — advertorch's MNIST LeNet-5 (Ding et al. 2019).
- :func:`resnet2b` — alpha-beta-CROWN's 2-block CIFAR ResNet (VNN-COMP 2021).

Example:
    >>> import torch
    >>> from advkit.models.architectures import kw_small
    >>> kw_small(1, 28)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CNNSmall",
    "FC3Layer",
    "LeNet5",
    "ResNet2B",
    "ResidualBlock",
    "cnn_small",
    "eran_conv_small",
    "fc_3layer",
    "kw_small",
    "lenet5",
    "mlp",
    "oval_base",
    "resnet2b",
]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _two_conv_net(
    channels: int, size: int, widths: tuple[int, int], padding: int, hidden: int = 100
) -> nn.Sequential:
    """Conv(4,2,p) → R → Conv(4,2,p) → R → Flatten → Linear(hidden) → R → Linear(10)."""
    side = _conv_out(_conv_out(size, 4, 2, padding), 4, 2, padding)
    if side < 1:
        raise ValueError(f"input size {size} is too small for two 4×4 stride-2 convolutions.")
    return nn.Sequential(
        nn.Conv2d(channels, widths[0], 4, stride=2, padding=padding),
        nn.ReLU(),
        nn.Conv2d(widths[0], widths[1], 4, stride=2, padding=padding),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(widths[1] * side * side, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def kw_small(in_channels: int = 1, in_size: int = 28) -> nn.Sequential:
    """KW-small: Wong & Kolter's "small" convolutional network.

    ``Conv(C,16,4,2,1), R, Conv(16,32,4,2,1), R, Flatten, Linear(32·(H/4)², 100), R,
    Linear(100, 10)``; state-dict keys 0, 2, 5, 7. Source: Wong & Kolter, "Provable
    defenses against adversarial examples via the convex outer adversarial polytope",
    ICML 2018 (github.com/locuslab/convex_adversarial).

    Args:
        in_channels: C (1 for MNIST, 3 for CIFAR-10).
        in_size: H = W, divisible by 4 (28 or 32).
    """
    if in_size % 4:
        raise ValueError(f"kw_small needs an input size divisible by 4, got {in_size}.")
    return _two_conv_net(in_channels, in_size, (16, 32), padding=1)


def eran_conv_small(in_channels: int = 1, in_size: int = 28) -> nn.Sequential:
    """ERAN ConvSmall: KW-small without padding.

    ``Conv(C,16,4,2,0), R, Conv(16,32,4,2,0), R, Flatten, Linear(800 | 1152, 100), R,
    Linear(100, 10)`` (800 for 28×28, 1152 for 32×32); keys 0, 2, 5, 7. Source: Singh
    et al., "An abstract domain for certifying neural networks", POPL 2019 (ERAN), in the
    PyTorch form of alpha-beta-CROWN (github.com/Verified-Intelligence/alpha-beta-CROWN).

    Args:
        in_channels: C (1 for MNIST, 3 for CIFAR-10).
        in_size: H = W.
    """
    return _two_conv_net(in_channels, in_size, (16, 32), padding=0)


def oval_base() -> nn.Sequential:
    """OVAL "base" CIFAR-10 network (3×32×32 input).

    ``Conv(3,8,4,2,1), R, Conv(8,16,4,2,1), R, Flatten, Linear(1024,100), R,
    Linear(100,10)``; keys 0, 2, 5, 7. Source: Lu & Kumar, "Neural network branching for
    neural network verification", ICLR 2020; checkpoint from alpha-beta-CROWN.
    """
    return _two_conv_net(3, 32, (8, 16), padding=1)


def mlp(*sizes: int) -> nn.Sequential:
    """Fully connected ReLU network ``Flatten, Linear, R, …, Linear``.

    The first Linear has key 1, the next 3, and so on.

    Args:
        sizes: layer widths from input to output, at least two, e.g. ``mlp(784, 20, 10)``.
    """
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp needs at least two positive sizes, got {sizes}.")
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class CNNSmall(nn.Module):
    """auto_LiRPA's small MNIST CNN (1×28×28 input).

    conv1=Conv(1,8,4,2,1) → R → conv2=Conv(8,16,4,2,1) → R → flatten(784) →
    fc1=Linear(784,256) → R → fc2=Linear(256,10). Source: Xu et al., "Automatic perturbation
    analysis for scalable certified robustness and beyond", NeurIPS 2020
    (github.com/Verified-Intelligence/auto_LiRPA).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 4, stride=2, padding=1)
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x: Tensor) -> Tensor:
        """Map images (N, 1, 28, 28) to logits (N, 10)."""
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class FC3Layer(nn.Module):
    """auto_LiRPA's 3-layer MNIST MLP: fc1=Linear(784,128), fc2=(128,64), fc3=(64,10).

    Source: auto_LiRPA examples (Xu et al. 2020).
    """

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        """Map images (N, 1, 28, 28) to logits (N, 10)."""
        x = torch.relu(self.fc1(x.flatten(1)))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    """advertorch's MNIST LeNet-5 variant (1×28×28 input).

    conv1=Conv(1,32,3,1,1) → R → maxpool 2 → conv2=Conv(32,64,3,1,1) → R → maxpool 2 →
    flatten(3136) → linear1=Linear(3136,200) → R → linear2=Linear(200,10). Source: Ding,
    Wang & Jin, "advertorch v0.1", 2019 (github.com/BorealisAI/advertorch,
    ``LeNet5`` in ``advertorch_examples``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.linear1 = nn.Linear(7 * 7 * 64, 200)
        self.linear2 = nn.Linear(200, 10)

    def forward(self, x: Tensor) -> Tensor:
        """Map images (N, 1, 28, 28) to logits (N, 10)."""
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.linear1(x.flatten(1)))
        return self.linear2(x)


class ResidualBlock(nn.Module):
    """``relu(conv2(relu(conv1(x))) + shortcut(x))`` with 3×3 convolutions (padding 1, bias).

    The shortcut is a 1×1 convolution with the block's stride when the shape changes
    (key ``shortcut.0``), else the identity.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of ``conv1`` and of the shortcut.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to (N, in_planes, H, W); returns (N, planes, H/stride, W/stride)."""
        out = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(out + self.shortcut(x))


class ResNet2B(nn.Module):
    """alpha-beta-CROWN's ResNet-2B for CIFAR-10 (3×32×32 input).

    conv1=Conv(3,8,3,2,1) → R → layer1=[Block(8→16, stride 2), Block(16→16)] →
    flatten(1024) → linear1=Linear(1024,100) → R → linear2=Linear(100,10). Source:
    VNN-COMP 2021 "cifar2020" benchmark, alpha-beta-CROWN ``resnet2b``
    (Wang et al., "Beta-CROWN", NeurIPS 2021).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.layer1 = nn.Sequential(ResidualBlock(8, 16, stride=2), ResidualBlock(16, 16))
        self.linear1 = nn.Linear(1024, 100)
        self.linear2 = nn.Linear(100, 10)

    def forward(self, x: Tensor) -> Tensor:
        """Map images (N, 3, 32, 32) to logits (N, 10)."""
        x = self.layer1(torch.relu(self.conv1(x)))
        x = torch.relu(self.linear1(x.flatten(1)))
        return self.linear2(x)


def cnn_small() -> CNNSmall:
    """Build auto_LiRPA's small MNIST CNN; see :class:`CNNSmall`."""
    return CNNSmall()


def fc_3layer() -> FC3Layer:
    """Build auto_LiRPA's 3-layer MNIST MLP; see :class:`FC3Layer`."""
    return FC3Layer()


def lenet5() -> LeNet5:
    """Build advertorch's MNIST LeNet-5; see :class:`LeNet5`."""
    return LeNet5()


def resnet2b() -> ResNet2B:
    """Build alpha-beta-CROWN's CIFAR-10 ResNet-2B; see :class:`ResNet2B`."""
    return ResNet2B()
