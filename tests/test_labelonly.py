"""Label-only (decision-based) attacks and the few-pixel attack: no autograd ever, exact
query counts, budgets, exact minimal distances on linear models, honest real-data numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import L2, Boundary, HopSkipJump, LabelOnly, Linf, OnePixel, ScoreOnly
from advkit.access import AccessError
from advkit.data import load_dataset
from advkit.models import load_model
from conftest import NoBackward, TinyCNN, linear_min_distance, linear_model, require_shared

pytestmark = pytest.mark.usefixtures("single_thread")


class Counting(nn.Module):
    """Counts evaluated rows and grad modes; its backward raises."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.rows = 0
        self.grad_mode: set[bool] = set()
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        self.grad_mode.add(torch.is_grad_enabled())
        self.rows += x.shape[0]
        return NoBackward.apply(self.inner(x))


def _images() -> tuple[nn.Module, Tensor, Tensor]:
    torch.manual_seed(0)
    model = TinyCNN().eval()
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return model, x, y


LABEL_ATTACKS = [
    (Boundary(steps=60, init_samples=30), L2(math.inf)),
    (HopSkipJump(steps=5, init_evals=20, max_evals=60), L2(math.inf)),
    (HopSkipJump(steps=5, init_evals=20, max_evals=60), Linf(math.inf)),
    (OnePixel(pixels=3, population=20, generations=6), Linf(math.inf)),
]


@pytest.mark.parametrize(("method", "threat"), LABEL_ATTACKS, ids=["bnd", "hsj2", "hsjinf", "px"])
@pytest.mark.parametrize("budget", [None, 150])
def test_queries_are_exact_budgets_hold_and_no_gradient_is_used(
    method: advkit.Attack, threat: advkit.ThreatModel, budget: int | None
) -> None:
    inner, x, y = _images()
    model = Counting(inner)
    res = advkit.attack(LabelOnly(model, budget), x, y, threat, method)
    # outside the oracle: the input check (1 row) and the final re-check (N rows)
    assert int(res.queries.sum()) == model.rows - 1 - len(y)
    assert model.grad_mode == {False}
    assert bool((res.gradient_calls == 0).all())
    if budget is not None:
        assert bool((res.queries <= budget).all())
    # one sample alone: its count is exact
    one = Counting(inner)
    alone = advkit.attack(
        LabelOnly(one, budget), x[1:2], y[1:2], threat, method, index=torch.tensor([1])
    )
    assert int(alone.queries[0]) == one.rows - 2 == int(res.queries[1])


def test_label_attacks_refuse_nothing_but_need_a_label_oracle() -> None:
    inner, x, y = _images()
    for method in (Boundary(steps=2), HopSkipJump(steps=1, init_evals=5, max_evals=10)):
        # richer access works; the clean-only case returns untouched
        res = advkit.attack(ScoreOnly(inner), x, y, L2(math.inf), method)
        assert res.x_adv.shape == x.shape
    with pytest.raises(AccessError):
        advkit.attack(LabelOnly(inner), x, y, Linf(0.1), advkit.Square())
    with pytest.raises(ValueError, match="image inputs"):
        flat = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
        advkit.attack(LabelOnly(flat), x.flatten(1), y, Linf(math.inf), OnePixel())
    with pytest.raises(ValueError):
        HopSkipJump(norm="l1")
    with pytest.raises(ValueError):
        Boundary(spherical_step=2.0)
    with pytest.raises(ValueError):
        OnePixel(population=2)


def _linear_batch() -> tuple[nn.Module, Tensor, Tensor]:
    model = linear_model(16, 4)
    x = torch.rand(4, 16, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.25
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return model, x, y


def test_boundary_reaches_the_exact_minimal_l2_distance() -> None:
    model, x, y = _linear_batch()
    exact = linear_min_distance(model, x, 2.0)
    res = advkit.attack(LabelOnly(model), x, y, L2(math.inf), Boundary(steps=500))
    assert bool(res.success.all())
    ratio = res.distance / exact
    assert bool((ratio >= 1 - 1e-4).all()) and bool((ratio <= 1.05).all()), ratio


@pytest.mark.parametrize("p", [2.0, math.inf], ids=["l2", "linf"])
def test_hopskipjump_reaches_the_exact_minimal_distance(p: float) -> None:
    model, x, y = _linear_batch()
    exact = linear_min_distance(model, x, p)
    threat = L2(math.inf) if p == 2.0 else Linf(math.inf)
    res = advkit.attack(LabelOnly(model), x, y, threat, HopSkipJump(steps=25))
    assert bool(res.success.all())
    ratio = res.distance / exact
    assert bool((ratio >= 1 - 1e-4).all()) and bool((ratio <= 1.03).all()), ratio


def test_boundary_with_a_cap_counts_only_successes_inside_it() -> None:
    model, x, y = _linear_batch()
    exact = linear_min_distance(model, x, 2.0)
    cap = float(exact.median())
    res = advkit.attack(LabelOnly(model), x, y, L2(cap), Boundary(steps=300))
    assert bool((res.distance <= cap + 1e-6).all())
    assert not bool(res.success[exact > cap].any())  # nothing beats the exact minimum
    assert bool(res.success[exact < 0.8 * cap].all())


def test_one_pixel_changes_at_most_k_pixels_and_respects_the_ball() -> None:
    inner, x, y = _images()
    op = OnePixel(pixels=2, population=30, generations=10)
    free = advkit.attack(ScoreOnly(inner), x, y, Linf(math.inf), op)
    changed = (free.x_adv != x).flatten(1).sum(dim=1)
    assert bool((changed <= 2).all())
    assert bool((free.distances()["l0"] <= 2).all())
    capped = advkit.attack(ScoreOnly(inner), x, y, Linf(0.1), op)
    assert bool((capped.distance <= 0.1 + 1e-6).all())
    assert bool(((capped.x_adv != x).flatten(1).sum(dim=1) <= 2).all())
    # scores make it stronger than labels alone on the same budget, never weaker in total
    labels = advkit.attack(LabelOnly(inner), x, y, Linf(math.inf), op)
    assert int(free.success.sum()) >= int(labels.success.sum())
    assert int(free.success.sum()) > 0


@pytest.mark.slow
def test_boundary_on_natural_lenet5() -> None:
    """Honest small-budget numbers on 3 MNIST images (benchmarks/labelonly.md has more):
    Boundary breaks them all (minimal-L2 search is unbounded) with a sensible distance;
    the budgets hold."""
    shared = require_shared()
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=3)
    model = load_model("lenet5-natural")
    res = advkit.attack(LabelOnly(model, 600), x, y, L2(math.inf), Boundary(steps=250))
    assert bool(res.success.all())
    assert bool((res.queries <= 600).all())
    assert float(res.distance.max()) < 8.0  # an image of noise is ~10 away in L2
