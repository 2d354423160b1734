"""The MILP encoding of each operator is exact: with the input fixed, every output's
minimum and maximum are the forward value; over a box, the optimum is attained by a real
input and is no larger than the output at any sampled point."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from operator_cases import CASES, case_graph, points_in

import advkit
from advkit.certify.bounds import ibp_bounds
from advkit.certify.graph import Graph
from advkit.certify.input_set import InputSet
from advkit.certify.milp import Program, encode
from advkit.certify.mip import solve
from advkit.certify.ops import OPERATORS, MaxPool, NpBox, Operator, Sigmoid, Tanh

ENCODED = [c for c in OPERATORS if c not in (MaxPool, Sigmoid, Tanh)]


def _box_and_bounds(
    cls: type[Operator], seed: int
) -> tuple[torch.nn.Module, Graph, InputSet, dict[int, NpBox]]:
    model, graph, _ = case_graph(cls, seed)
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(1, *CASES[cls][1], generator=g)
    inputs = InputSet(advkit.Linf(0.6, lo=-10.0, hi=10.0), x0)
    with torch.no_grad():
        pre = ibp_bounds(graph, inputs)
    wide = {
        i: (lo.reshape(-1).double().numpy() - 1e-4, hi.reshape(-1).double().numpy() + 1e-4)
        for i, (lo, hi) in pre.items()
    }
    return model, graph, inputs, wide


def _minimum(prog: Program, coef: np.ndarray) -> tuple[float, np.ndarray]:
    obj, const = prog.output_row(coef)
    status, val, sol = solve(prog, obj, [], 30.0)
    assert status == "optimal" and sol is not None
    return val + const, sol


@pytest.mark.parametrize("cls", ENCODED, ids=lambda c: c.__name__)
def test_fixed_input_pins_every_output_to_the_forward_value(cls: type[Operator]) -> None:
    model, graph, inputs, wide = _box_and_bounds(cls, 0)
    pts = points_in((inputs.lower, inputs.upper), 4, torch.Generator().manual_seed(1))
    for x in pts:
        flat = x.reshape(-1).double().numpy()
        prog = encode(graph, wide, flat, flat)
        with torch.no_grad():
            out = model(x).reshape(-1).double().numpy()
        for i in range(out.size):
            e = np.eye(out.size)[i]
            assert _minimum(prog, e)[0] == pytest.approx(out[i], abs=1e-4)
            assert -_minimum(prog, -e)[0] == pytest.approx(out[i], abs=1e-4)


@pytest.mark.parametrize("cls", ENCODED, ids=lambda c: c.__name__)
@pytest.mark.parametrize("seed", [0, 1])
def test_box_optimum_is_attained_and_below_every_sample(cls: type[Operator], seed: int) -> None:
    model, graph, inputs, wide = _box_and_bounds(cls, seed)
    lower = inputs.lower.reshape(-1).double().numpy()
    prog = encode(graph, wide, lower, inputs.upper.reshape(-1).double().numpy())
    g = torch.Generator().manual_seed(10 + seed)
    with torch.no_grad():
        size = model(inputs.x0).numel()
        coef = torch.randn(size, generator=g, dtype=torch.float64)
        best, sol = _minimum(prog, coef.numpy())
        x_star = torch.from_numpy(sol[: lower.size]).float().reshape(inputs.x0.shape)
        attained = float(model(x_star).reshape(-1).double() @ coef)
        pts = points_in((inputs.lower, inputs.upper), 200, g).reshape(-1, *inputs.x0.shape[1:])
        sampled = model(pts).reshape(pts.shape[0], -1).double() @ coef
    assert attained == pytest.approx(best, abs=1e-4)
    assert best <= float(sampled.min()) + 1e-4


def test_max_pooling_has_no_milp_encoding() -> None:
    _, graph, inputs, wide = _box_and_bounds(MaxPool, 0)
    flat = inputs.lower.reshape(-1).double().numpy()
    with pytest.raises(TypeError, match="max pooling"):
        encode(graph, wide, flat, flat)
