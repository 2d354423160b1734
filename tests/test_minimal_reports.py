"""Minimal-ε search, distortion reports, best/average/worst case over targets, and
accuracy-vs-ε curves read off per-sample minimal distances."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import FGM, L2, DeepFool, Linf, MinimalEps
from advkit.distortion import distortion_report, target_cases
from conftest import linear_min_distance, linear_model

pytestmark = pytest.mark.usefixtures("single_thread")

N, D = 24, 20


@pytest.fixture(scope="module")
def binary() -> tuple[nn.Module, Tensor, Tensor, Tensor]:
    """Two classes: FGM's direction is exact, so the minimal ε is the closed form."""
    model = linear_model(d=D, k=2, seed=1)
    x = torch.rand(N, D, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.25
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return model, x, y, linear_min_distance(model, x, 2.0)


def test_minimal_eps_finds_the_closed_form_and_never_undercuts_it(
    binary: tuple[nn.Module, Tensor, Tensor, Tensor],
) -> None:
    model, x, y, exact = binary
    res = advkit.attack(model, x, y, L2(math.inf), MinimalEps(FGM(), search_steps=12))
    assert bool(res.success.all())
    ratio = res.distance / exact
    assert bool((ratio >= 1 - 1e-5).all()) and bool((ratio <= 1.01).all()), ratio
    # 1 run at the box diameter + 12 bisection steps, one gradient call each
    assert bool((res.gradient_calls == 13).all())


def test_minimal_eps_respects_a_cap(binary: tuple[nn.Module, Tensor, Tensor, Tensor]) -> None:
    model, x, y, exact = binary
    srt = exact.sort().values
    cap = float(srt[N // 2 - 1] + srt[N // 2]) / 2  # between two samples' distances
    res = advkit.attack(model, x, y, L2(cap), MinimalEps(FGM(), search_steps=6))
    assert bool((res.distance <= cap * (1 + 1e-5)).all())
    assert torch.equal(res.success, exact <= cap)


def test_curve_from_minimal_distances_matches_fixed_eps_runs(
    binary: tuple[nn.Module, Tensor, Tensor, Tensor],
) -> None:
    model, x, y, exact = binary
    box = {"lo": -100.0, "hi": 100.0}  # FGM's full-ε step must not be clipped by the box
    res = advkit.attack(model, x, y, L2(math.inf, **box), MinimalEps(FGM(), search_steps=12))
    for q in (0.2, 0.5, 0.8):
        eps = float(exact.quantile(q)) * 1.015  # away from any sample's exact distance
        if bool(((exact / eps - 1).abs() < 0.005).any()):
            continue
        fixed = advkit.attack(model, x, y, L2(eps, **box), FGM())
        assert res.robust_accuracy(eps) == pytest.approx(1 - fixed.success_rate)
        assert res.robust_accuracy(eps) == pytest.approx(float((exact > eps).float().mean()))


def test_distortion_report_numbers() -> None:
    model = linear_model(d=D, k=4)
    x = torch.rand(10, D, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    y[0] = (y[0] + 1) % 4  # one sample misclassified from the start
    res = advkit.attack(model, x, y, Linf(0.02), FGM())
    rep = distortion_report(res)
    d = (res.x_adv - res.x).abs()
    ok = res.success
    assert rep.n == 10 and rep.success_rate == pytest.approx(float(ok.float().mean()))
    assert bool(ok[0]) and 0 < int(ok.sum()) < 10
    assert rep.mean["linf"] == pytest.approx(float(d.amax(dim=1)[ok].double().mean()), rel=1e-6)
    assert rep.mean["l1"] == pytest.approx(float(d.sum(dim=1)[ok].double().mean()), rel=1e-6)
    assert rep.median["l2"] == pytest.approx(float(d.norm(dim=1)[ok].double().median()), rel=1e-6)
    assert rep.mean["l0"] == pytest.approx(float((d > 1e-8).sum(dim=1)[ok].double().mean()))
    assert "ASR" in rep.table()
    none = distortion_report(advkit.attack(model, x[1:], y[1:], Linf(0.0), FGM()))
    assert none.success_rate == 0 and math.isnan(none.mean["l2"])


def test_best_average_worst_cases_are_ordered() -> None:
    k = 5
    model = linear_model(d=D, k=k)
    x = torch.rand(12, D, generator=torch.Generator().manual_seed(5)) * 0.5 + 0.25
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    cases = target_cases(model, x, y, L2(math.inf), DeepFool(), num_classes=k, seed=1)
    best, avg, worst = cases.best, cases.average, cases.worst
    for case in (best, avg, worst):
        assert bool((case.target != y).all())
        assert torch.equal(case.success, case.logits.argmax(dim=1) == case.target)
    assert bool((best.success >= avg.success).all()) and bool((avg.success >= worst.success).all())
    both = best.success & worst.success & avg.success
    assert bool(both.any())
    assert bool((best.distance[both] <= avg.distance[both] + 1e-6).all())
    assert bool((avg.distance[both] <= worst.distance[both] + 1e-6).all())
    # the best case over targets is at least the untargeted minimal distance (overshoot 2%)
    exact = linear_min_distance(model, x, 2.0)
    assert bool((best.distance[best.success] >= exact[best.success] * (1 - 1e-4)).all())
    # the average case's target is a deterministic function of (seed, sample index)
    again = target_cases(model, x, y, L2(math.inf), DeepFool(), num_classes=k, seed=1)
    assert torch.equal(again.average.target, avg.target)
    other = target_cases(model, x, y, L2(math.inf), DeepFool(), num_classes=k, seed=2)
    assert not torch.equal(other.average.target, avg.target)
    reps = cases.reports()
    assert reps["best"].mean["l2"] <= reps["worst"].mean["l2"]


def test_bad_minimal_eps_configs() -> None:
    with pytest.raises(ValueError, match="already a minimal-distortion attack"):
        MinimalEps(DeepFool())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_ratio"):
        MinimalEps(FGM(), min_ratio=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        target_cases(
            linear_model(), torch.rand(2, 20), torch.zeros(2), L2(1.0), FGM(), num_classes=1
        )
