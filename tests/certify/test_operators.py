"""Every registered certifier operator implements the whole contract, and its interval
and linear bounds contain its exact output on random points of random boxes."""

from __future__ import annotations

import inspect

import pytest
import torch
from operator_cases import CASES, case_graph, points_in, random_box
from torch import Tensor, nn

import advkit
from advkit.certify.graph import trace
from advkit.certify.input_set import InputSet
from advkit.certify.ops import OPERATORS, BackwardContext, Input, Operator, ReLU

CONTRACT = ("forward", "interval", "backward", "milp")
TOL = 1e-4


@pytest.mark.parametrize("cls", OPERATORS, ids=lambda c: c.__name__)
def test_every_registered_operator_implements_the_whole_contract(cls: type[Operator]) -> None:
    assert not inspect.isabstract(cls), f"{cls.__name__} misses {set(cls.__abstractmethods__)}"
    for name in CONTRACT:
        assert getattr(cls, name) is not getattr(Operator, name), f"{cls.__name__}.{name}"
    assert cls.kind, f"{cls.__name__} declares no kind"
    lowers = cls.modules or cls.functions or cls.methods
    assert cls is Input or lowers, f"{cls.__name__} lowers no module, function or method"


def test_every_registered_operator_has_a_test_case_and_no_target_is_claimed_twice() -> None:
    assert set(CASES) == set(OPERATORS)
    claimed = [t for cls in OPERATORS for t in (*cls.modules, *cls.functions, *cls.methods)]
    assert len(claimed) == len(set(claimed))


def test_trace_lowers_with_the_table_it_is_given() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU()).eval()
    without_relu = tuple(op for op in OPERATORS if op is not ReLU)
    assert [n.kind for n in trace(net, torch.zeros(1, 4)).nodes][-1] == "relu"
    with pytest.raises(TypeError, match="ReLU"):
        trace(net, torch.zeros(1, 4), operators=without_relu)


def _boxes(cls: type[Operator], seed: int, n: int) -> tuple[InputSet, list[tuple[Tensor, Tensor]]]:
    """The input set and one random box per input of the case's node."""
    _, graph, node = case_graph(cls, seed)
    g = torch.Generator().manual_seed(seed)
    if cls is Input:
        inputs = InputSet(advkit.Linf(0.1), torch.rand(n, *CASES[cls][1], generator=g))
        return inputs, [(inputs.lower, inputs.upper)]
    inputs = InputSet(advkit.Linf(0.1), torch.zeros(n, 1))
    return inputs, [random_box(graph.nodes[j].shape, n, g) for j in node.inputs]


def _linear(coefficients: tuple[Tensor, ...], pts: list[Tensor]) -> Tensor:
    """Σ_j ⟨coefficients_j, x_j⟩ per point, (M, N, K) for points (M, N, ...)."""
    total = torch.zeros(())
    for c, p in zip(coefficients, pts, strict=True):
        total = total + (c[None] * p[:, :, None]).flatten(3).sum(-1)
    return total


@pytest.mark.parametrize("cls", OPERATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interval_and_linear_bounds_contain_the_exact_output(
    cls: type[Operator], seed: int
) -> None:
    _, _, node = case_graph(cls, seed)
    n, k, m = 3, 4, 64
    inputs, boxes = _boxes(cls, seed, n)
    g = torch.Generator().manual_seed(100 + seed)
    pts = [points_in(b, m, g) for b in boxes]
    with torch.no_grad():
        flat = [p.reshape(m * n, *p.shape[2:]) for p in pts]
        y = node.op.forward(*flat).reshape(m, n, *node.shape)
        lo, hi = node.op.interval(*boxes)
        assert (y >= lo - TOL).all() and (y <= hi + TOL).all()
        a = torch.randn(n, k, *node.shape, generator=g)
        exact = (a[None] * y[:, :, None]).flatten(3).sum(-1)
        slope_choices = [None]
        if node.op.lower_slopes(boxes[0]) is not None:  # α-CROWN: any slope in [0, 1]
            slope_choices.append(torch.rand(n, k, *boxes[0][0].shape[1:], generator=g))
        for slopes in slope_choices:
            bounds = boxes[0] if node.op.nonlinear else None
            step = node.op.backward(a, BackwardContext(inputs, bounds, slopes))
            const = step.constant if step.constant is not None else torch.zeros(n, k)
            passed = pts if node.inputs else []  # the input node bounds by a constant
            assert (const + _linear(step.coefficients, passed) <= exact + TOL).all()


@pytest.mark.parametrize(
    "cls", [c for c in OPERATORS if not c.per_sample], ids=lambda c: c.__name__
)
def test_shared_specifications_give_the_per_sample_step(cls: type[Operator]) -> None:
    _, _, node = case_graph(cls, 0)
    inputs, _ = _boxes(cls, 0, 3)
    a = torch.randn(1, 2, *node.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        shared = node.op.backward(a, BackwardContext(inputs))
        each = node.op.backward(a.expand(3, *a.shape[1:]), BackwardContext(inputs))
    for s, e in zip(shared.coefficients, each.coefficients, strict=True):
        torch.testing.assert_close(s.expand_as(e), e)
