"""One small traced example per registered certifier operator, shared by the operator
tests: a model whose graph contains the operator, and the per-sample input shape."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from advkit.certify.graph import Graph, Node, trace
from advkit.certify.ops import (
    Add,
    AvgPool,
    BatchNorm,
    ConstantArithmetic,
    Conv,
    Input,
    Linear,
    MaxPool,
    Normalization,
    Operator,
    ReLU,
    Reshape,
    Sigmoid,
    Tanh,
)
from advkit.models.layers import DivConstant, MulConstant, SubtractFrom
from advkit.models.normalize import Normalize


class Residual(nn.Module):
    """x + relu(W x + b): an addition of two branches."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.relu(self.lin(x))


def _batchnorm() -> nn.Module:
    bn = nn.BatchNorm2d(2)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.3, -0.2]))
        bn.running_var.copy_(torch.tensor([0.5, 2.0]))
        bn.weight.copy_(torch.tensor([1.5, -0.7]))
        bn.bias.copy_(torch.tensor([0.1, 0.2]))
    return nn.Sequential(bn)


def _constants() -> nn.Module:
    c = torch.tensor([[0.5, -2.0, 3.0]])
    return nn.Sequential(SubtractFrom(c), MulConstant(c[0]), DivConstant(torch.tensor(-0.4)))


CASES: dict[type[Operator], tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    Input: (lambda: nn.Sequential(nn.Flatten()), (3,)),
    Linear: (lambda: nn.Sequential(nn.Linear(3, 4)), (3,)),
    Conv: (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1)), (2, 5, 5)),
    ReLU: (lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU()), (4,)),
    Sigmoid: (lambda: nn.Sequential(nn.Linear(4, 6), nn.Sigmoid()), (4,)),
    Tanh: (lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh()), (4,)),
    MaxPool: (lambda: nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1)), (2, 5, 5)),
    Reshape: (lambda: nn.Sequential(nn.Flatten()), (2, 3)),
    BatchNorm: (_batchnorm, (2, 3, 3)),
    AvgPool: (lambda: nn.Sequential(nn.AvgPool2d(2)), (1, 4, 4)),
    Normalization: (lambda: nn.Sequential(Normalize([0.5, 0.4], [0.2, 0.3])), (2, 3)),
    Add: (Residual, (6,)),
    ConstantArithmetic: (_constants, (2, 3)),
}


def case_graph(cls: type[Operator], seed: int) -> tuple[nn.Module, Graph, Node]:
    """The case's model (random weights from ``seed``), its graph and the node of ``cls``."""
    build, shape = CASES[cls]
    torch.manual_seed(seed)
    model = build().eval()
    graph = trace(model, torch.zeros(1, *shape))
    node = next(n for n in graph.nodes if type(n.op) is cls)
    return model, graph, node


def random_box(shape: tuple[int, ...], n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """n random boxes (n, *shape) around N(0, 1) centers with radii in [0, 1)."""
    center = torch.randn(n, *shape, generator=g)
    radius = torch.rand(n, *shape, generator=g)
    return center - radius, center + radius


def points_in(box: tuple[Tensor, Tensor], m: int, g: torch.Generator) -> Tensor:
    """m points (m, n, *shape) in each box: uniform ones, and the two corners."""
    lo, hi = box
    u = torch.rand(m - 2, *lo.shape, generator=g)
    return torch.cat([lo[None], hi[None], lo + u * (hi - lo)])
