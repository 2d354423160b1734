"""Helpers of the VNN-COMP tests: small ReLU networks, the counterexample reader and an
onnxruntime check of a printed counterexample (the ONNX and VNN-LIB writers are
:mod:`advkit.certify.vnn_export`)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn


class SmallCNN(nn.Module):
    """Constant normalization, conv, ReLU, BatchNorm, max (or average) pooling, a residual
    block, average pooling, a ``view`` flatten, a linear layer and an output scale: every
    operator of the converted subset but the squashing activations (MIP does not encode
    max pooling: ``maxpool=False`` pools by averages there)."""

    def __init__(self, maxpool: bool = True) -> None:
        super().__init__()
        self.pool = nn.functional.max_pool2d if maxpool else nn.functional.avg_pool2d
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 3)

    def forward(self, x: Tensor) -> Tensor:
        h = self.pool(self.bn(torch.relu(self.conv1((x - 0.5) / 0.25))), 2)
        h = nn.functional.avg_pool2d(h + torch.relu(self.conv2(h)), 2)
        return self.fc(h.view(h.size(0), -1)) * 2.0


def mlp() -> nn.Module:
    """A 4-10-10-3 ReLU MLP on 1×2×2 inputs (Flatten and Gemm in ONNX)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3)
    )


def seeded(model: nn.Module, seed: int) -> nn.Module:
    """``model`` re-initialized from ``seed``, with non-trivial BatchNorm statistics, in
    eval mode."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.reset_parameters()
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def trained(model: nn.Module, shape: tuple[int, ...], seed: int, steps: int = 150) -> nn.Module:
    """``model`` fitted (Adam, full batch) to 3 classes of inputs in [0, 1] split by random
    hyperplanes, so its decision boundaries cross the input box; in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.rand(256, *shape, generator=gen)
    w = torch.randn(x[0].numel(), 3, generator=gen)
    flat = x.reshape(256, -1)
    y = ((flat - 0.5) @ w).argmax(1)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def counterexample(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The X and Y values of a VNN-COMP ``sat`` answer, as float32 arrays."""
    pairs = re.findall(r"\(([XY])_(\d+) ([^()\s]+)\)", text)
    xs = sorted((int(i), float(v)) for k, i, v in pairs if k == "X")
    ys = sorted((int(i), float(v)) for k, i, v in pairs if k == "Y")
    return np.array([v for _, v in xs], np.float32), np.array([v for _, v in ys], np.float32)


def onnx_outputs(path: Path, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The ONNX network's outputs on one flat input, by onnxruntime."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x.reshape(1, *shape).astype(np.float32)})
    return np.asarray(y).reshape(-1)


def near_boundary(model: nn.Module, shape: tuple[int, ...], n: int, seed: int) -> Tensor:
    """``n`` of 256 random inputs in [0, 1], spread over the lower half of their clean
    margins (robustness flips at small and moderate ε, so both answers occur)."""
    x = torch.rand(256, *shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        top = model(x).topk(2, dim=1).values
    order = (top[:, 0] - top[:, 1]).argsort()
    return x[order[torch.linspace(4, 127, n).long()]]
