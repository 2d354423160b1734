"""ZOO (score-only, minimal L2): finite differences match autograd to O(h²), the exact
minimal distance on linear models (and C&W's), exact query counts, budgets, no autograd."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import CW, L2, ZOO, LabelOnly, ScoreOnly
from advkit.access import AccessError
from advkit.attacks.zoo import coordinate_derivatives
from conftest import linear_min_distance, linear_model

pytestmark = pytest.mark.usefixtures("single_thread")


def test_coordinate_derivatives_match_autograd_to_second_order() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.rand(6, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    (g_true,) = torch.autograd.grad(net(xg).sum(), xg)
    errors = []
    for h in (1e-2, 1e-3):
        eye = torch.eye(6, dtype=torch.float64) * h
        with torch.no_grad():
            f0, fp, fm = net(x[None]), net(x + eye), net(x - eye)
        g, hess = coordinate_derivatives(f0[:, 0], fp[:, 0], fm[:, 0], h)
        errors.append(float((g - g_true).abs().max()))
        assert hess.shape == (6,)
    assert errors[1] < errors[0] / 50  # O(h²): 10× smaller h, ~100× smaller error
    assert errors[1] < 1e-6


def _linear_batch() -> tuple[nn.Module, Tensor, Tensor]:
    model = linear_model(16, 4)
    x = torch.rand(5, 16, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.25
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return model, x, y


@pytest.mark.parametrize("solver", ["adam", "newton"])
def test_full_coordinate_zoo_reaches_the_exact_minimal_distance(solver: str) -> None:
    model, x, y = _linear_batch()
    exact = linear_min_distance(model, x, 2.0)
    zoo = ZOO(solver=solver, steps=200, search_steps=6, coordinates=16)
    res = advkit.attack(ScoreOnly(model), x, y, L2(math.inf), zoo)
    assert bool(res.success.all())
    ratio = res.distance / exact
    assert bool((ratio >= 1 - 1e-4).all())  # nothing beats the exact minimum
    assert bool((ratio <= 1.05).all()), ratio
    cw = advkit.attack(model, x, y, L2(math.inf), CW(steps=200, search_steps=6))
    assert float(res.distance.mean()) <= 1.05 * float(cw.distance.mean())


def _small_linear(d: int, k: int, seed: int) -> nn.Module:
    """A linear classifier with PyTorch's default scale of weights, U(±1/√d): its
    log-probability margins move little per unit of distortion."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(d, k)
    with torch.no_grad():
        lin.weight.copy_((torch.rand(k, d, generator=g) * 2 - 1) / math.sqrt(d))
        lin.bias.copy_((torch.rand(k, generator=g) * 2 - 1) / math.sqrt(d))
    return nn.Sequential(nn.Flatten(), lin).eval()


def test_a_query_budget_is_spread_over_the_search_on_c() -> None:
    """With 20,000 queries a sample, the default ZOO must still find the boundary: the
    budget pays for every value of c, not only for the first (too small) one."""
    model = _small_linear(20, 3, seed=0)
    x = torch.rand(10, 20, generator=torch.Generator().manual_seed(100))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    res = advkit.attack(ScoreOnly(model, budget=20_000), x, y, L2(math.inf), ZOO())
    assert bool((res.queries <= 20_000).all())
    assert res.success_rate >= 0.9
    ratio = (res.distance / linear_min_distance(model, x, 2.0))[res.success]
    assert bool((ratio >= 1 - 1e-4).all())  # nothing beats the exact minimum
    assert float(ratio.mean()) <= 1.1, ratio


class Counting(nn.Module):
    """Counts evaluated rows per nearest clean sample; backward raises."""

    def __init__(self, inner: nn.Module, x0: Tensor) -> None:
        super().__init__()
        self.inner, self.x0 = inner, x0
        self.rows: Counter[int] = Counter()
        self.grad_mode: set[bool] = set()

    def forward(self, x: Tensor) -> Tensor:
        self.grad_mode.add(torch.is_grad_enabled())
        self.rows.update(torch.cdist(x.flatten(1), self.x0.flatten(1)).argmin(dim=1).tolist())
        out = self.inner(x)
        if out.requires_grad:
            out.register_hook(lambda g: (_ for _ in ()).throw(RuntimeError("no backward")))
        return out


def test_queries_are_exact_within_budget_and_never_use_gradients() -> None:
    model, x, y = _linear_batch()
    counting = Counting(model, x).eval()
    b, budget = 8, 1 + 17 * 30
    zoo = ZOO(steps=40, search_steps=2, coordinates=b)
    res = advkit.attack(ScoreOnly(counting, budget=budget), x, y, L2(math.inf), zoo)
    counted = [counting.rows[i] - 1 - (i == 0) for i in range(len(y))]
    assert res.queries.tolist() == counted
    assert bool(((res.queries - 1) % (2 * b + 1) == 0).all())
    assert bool((res.queries <= budget).all())
    assert counting.grad_mode == {False}
    assert bool((res.gradient_calls == 0).all())


def test_reduced_hierarchical_importance_variant_runs_and_stays_in_the_box() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    zoo = ZOO(
        steps=60,
        search_steps=2,
        initial_const=10.0,
        lr=0.1,
        coordinates=8,
        attack_sizes=(2, 4),
        grow_at=(30,),
        importance=True,
        importance_every=5,
    )
    res = advkit.attack(ScoreOnly(model), x, y, L2(math.inf), zoo)
    assert float(res.x_adv.min()) >= 0 and float(res.x_adv.max()) <= 1
    assert res.success_rate > 0
    # 2 rounds × (30 iterations on 2×2 = 4 coordinates: 9 rows, 30 on 8 of 16: 17 rows)
    assert res.queries.tolist() == [1 + 2 * (30 * 9 + 30 * 17)] * 3


def test_bad_configurations_and_access() -> None:
    model, x, y = _linear_batch()
    with pytest.raises(AccessError, match="ScoreOnly"):
        advkit.attack(LabelOnly(model), x, y, L2(math.inf), ZOO(steps=2))
    with pytest.raises(ValueError, match="solver"):
        ZOO(solver="sgd")
    with pytest.raises(ValueError, match="grow_at"):
        ZOO(attack_sizes=(8, 16))
    with pytest.raises(ValueError, match="image inputs"):
        advkit.attack(ScoreOnly(model), x, y, L2(math.inf), ZOO(attack_sizes=(4,)))
