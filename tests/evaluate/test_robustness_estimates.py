"""CLEVER and the global Lipschitz bound: exact on linear models, the bound above every
sampled gradient norm."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from advkit import L2, Linf
from advkit.evaluate.clever import Clever
from advkit.evaluate.lipschitz import margin_lipschitz, margin_radius

pytestmark = pytest.mark.usefixtures("single_thread")


def _linear(seed: int, d: int = 6, k: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k)).eval()


def _exact_distance(model: nn.Module, x: torch.Tensor, y: int, q: float) -> float:
    """min_j (f_y − f_j)(x) / ‖w_y − w_j‖_q: the least perturbation, the box ignored."""
    w, f = model[1].weight.detach().double(), model(x)[0].detach().double()
    return min(
        float((f[y] - f[j]) / torch.linalg.vector_norm(w[y] - w[j], ord=q))
        for j in range(len(f))
        if j != y
    )


@pytest.mark.parametrize("threat, q", [(L2(5.0), 2.0), (Linf(5.0), 1.0)])
def test_clever_equals_the_minimal_distance_on_a_linear_model(threat, q) -> None:
    model = _linear(0)
    x = torch.rand(3, 6, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(dim=1)
    est = Clever(threat, batches=5, batch_size=10).estimate(model, x, y)
    for i in range(3):
        exact = _exact_distance(model, x[i : i + 1], int(y[i]), q)
        assert est.score[i].item() == pytest.approx(exact, rel=1e-5)
    assert est.seconds > 0 and not bool(est.fitted.any())  # constant gradients: no fit


@pytest.mark.parametrize("threat, q", [(L2(1.0), 2.0), (Linf(1.0), 1.0)])
def test_lipschitz_bound_is_exact_on_a_linear_model(threat, q) -> None:
    model = _linear(2)
    w = model[1].weight.detach().double()
    bound = margin_lipschitz(model, torch.zeros(1, 6), threat)
    for i in range(4):
        for j in range(4):
            exact = float(torch.linalg.vector_norm(w[i] - w[j], ord=q))
            assert bound[i, j].item() == pytest.approx(exact, rel=1e-6, abs=1e-7)


def test_margin_radius_is_the_exact_distance_on_a_linear_model() -> None:
    model = _linear(3)
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(2))
    y = model(x).argmax(dim=1)
    radius = margin_radius(model, x, y, Linf(1.0))
    for i in range(4):
        assert radius[i].item() == pytest.approx(
            _exact_distance(model, x[i : i + 1], int(y[i]), 1.0)
        )


def test_lipschitz_bound_refuses_max_pooling() -> None:
    net = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2)).eval()
    with pytest.raises(TypeError, match=r"affine layers .* and ReLUs only"):
        margin_lipschitz(net, torch.zeros(1, 1, 4, 4), L2(1.0))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), norm=st.sampled_from(["linf", "l2"]))
def test_global_bound_is_above_every_sampled_gradient_norm(seed: int, norm: str) -> None:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3)
    ).eval()
    threat = Linf(1.0) if norm == "linf" else L2(1.0)
    bound = margin_lipschitz(net, torch.zeros(1, 1, 4, 4), threat)
    x = torch.rand(1, 1, 4, 4)
    y = int(net(x).argmax())
    est = Clever(threat, batches=3, batch_size=20, seed=seed).estimate(net, x, torch.tensor([y]))
    for j in range(3):
        if j != y:
            assert est.max_sampled[0, j].item() <= bound[y, j].item() * (1 + 1e-6)
            assert est.lipschitz[0, j].item() >= est.max_sampled[0, j].item()
            assert not math.isnan(est.lipschitz[0, j].item())
