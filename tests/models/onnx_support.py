"""Helpers of the ONNX tests: small torch classifiers and their export to ONNX files.

``torch.onnx.export(..., dynamo=False)`` (the TorchScript exporter) runs offline and needs
no package beyond torch and onnx; graphs torch cannot write (unsupported operators, a
final softmax) are built with ``onnx.helper``.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from advkit.certify.vnn_export import export_onnx


class Residual(nn.Module):
    """conv → ReLU → BN, a residual block, average pooling, normalization constants, and a
    flatten written as ``view(size(0), -1)`` (exported as Shape/Gather/Unsqueeze/Concat)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(torch.relu(self.conv1((x - 0.5) / 0.25)))
        h = torch.relu(h + self.conv2(h))
        h = nn.functional.avg_pool2d(h, 2)
        return self.fc(h.view(h.size(0), -1))


class ChannelsLast(nn.Module):
    """A CNN that takes (N, H, W, C) images (a Transpose first, as converted TF models)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(108, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2))


def mlp() -> nn.Module:
    """Flatten, Linear, ReLU, Linear on 1×8×8 inputs (Gemm in ONNX)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def squashing_mlp() -> nn.Module:
    """An MLP with sigmoid and tanh activations."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.Sigmoid(),
        nn.Linear(16, 12),
        nn.Tanh(),
        nn.Linear(12, 10),
    )


def cnn() -> nn.Module:
    """Conv, ReLU, BatchNorm (kept: it follows the ReLU), max and average pooling, LeakyReLU."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(6),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, stride=1, padding=1, bias=False),
        nn.LeakyReLU(0.1),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` in eval mode with random BatchNorm statistics (not the identity)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


def export(
    model: nn.Module,
    path: Path,
    shape: tuple[int, ...] = (1, 8, 8),
    dynamic: bool = True,
    opset: int = 17,
) -> Path:
    """Write ``model`` (eval mode) to ``path`` with a dynamic or a fixed batch of 1."""
    return export_onnx(model, path, shape, output_name="logits", dynamic=dynamic, opset=opset)


def graph_file(
    path: Path,
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto],
    shape: tuple[int | None, ...] = (None, 4),
    opset: int = 17,
) -> Path:
    """Write an ONNX model of ``nodes`` from input ``x`` (float32, ``shape``) to output ``y``."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, str(path))
    return path


def matrix(name: str, rows: int, cols: int, seed: int = 0) -> onnx.TensorProto:
    """A random float32 initializer of shape (rows, cols)."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(rows, cols, generator=gen).numpy()
    return numpy_helper.from_array(values, name)
