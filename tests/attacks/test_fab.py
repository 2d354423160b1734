"""FAB and FAB-T: the exact projection onto a hyperplane in the box, exact minimal distances
on a multiclass linear model, the ε cap as AutoAttack uses it, the target classes FAB-T
attacks, gradient-call accounting, and the catalog and command line.

On z = W x + b the least ℓp distance to another class is
min_j (z_c − z_j) / ‖w_c − w_j‖_q (``linear_min_distance``); the box is made non-binding
(lo = −100, hi = 100 with x in [0, 1]). FAB's first step lands on the nearest boundary
point overshot by η, and the following steps pull it back to within 1%.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import Tensor, nn

import advkit
from advkit import FAB, FABT, L1, L2, Linf, WhiteBox, cli
from advkit.attacks._hyperplane import boundary_step
from advkit.attacks.catalog import make_attack, names
from advkit.attacks.fab import FABLoop, FABState
from advkit.engine import Problem
from advkit.objectives import Objective, is_successful
from advkit.targets import top_others
from advkit.threat import ThreatModel
from conftest import TinyCNN, linear_min_distance, linear_model

pytestmark = pytest.mark.usefixtures("single_thread")

N, D, K = 60, 20, 5
FREE = {"lo": -100.0, "hi": 100.0}
NORMS: dict[str, tuple[type[ThreatModel], float]] = {
    "linf": (Linf, math.inf),
    "l2": (L2, 2.0),
    "l1": (L1, 1.0),
}


@pytest.fixture(scope="module")
def lin() -> tuple[nn.Module, Tensor, Tensor]:
    model = linear_model(d=D, k=K)
    x = torch.rand(N, D, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return model, x, y


# ----- the projection onto {⟨w, z⟩ = b} ∩ box ----------------------------------------------


def _least_norm(t: np.ndarray, w: np.ndarray, r: float, p: float) -> float | None:
    """min ‖δ‖_p with ⟨w, δ⟩ = r and t + δ in [0, 1] by a generic solver (None: infeasible)."""
    d = t.size
    box = [(-a, 1 - a) for a in t]
    if p == 1:  # δ = u − v with u, v ≥ 0
        res = linprog(
            np.ones(2 * d),
            A_eq=np.concatenate([w, -w])[None],
            b_eq=[r],
            bounds=[(0, max(0.0, hi)) for _, hi in box] + [(0, max(0.0, -lo)) for lo, _ in box],
        )
        return float(res.fun) if res.success else None
    if p == math.inf:  # minimize s with −s ≤ δ_i ≤ s
        rows = np.zeros((2 * d, d + 1))
        for i in range(d):
            rows[2 * i, [i, d]] = [1, -1]
            rows[2 * i + 1, [i, d]] = [-1, -1]
        res = linprog(
            np.eye(d + 1)[-1],
            A_ub=rows,
            b_ub=np.zeros(2 * d),
            A_eq=np.append(w, 0)[None],
            b_eq=[r],
            bounds=[*box, (0, None)],
        )
        return float(res.fun) if res.success else None
    # L2: δ(λ) = clip(λ·w, box) by the KKT conditions; bisect λ until ⟨w, δ(λ)⟩ = r
    lo_b, hi_b = np.array([b[0] for b in box]), np.array([b[1] for b in box])
    sign = 1.0 if r >= 0 else -1.0
    if sign * (np.clip(sign * 1e12 * w, lo_b, hi_b) @ w) < abs(r):
        return None
    a, b = 0.0, 1e12
    for _ in range(200):
        mid = (a + b) / 2
        a, b = (mid, b) if sign * (np.clip(sign * mid * w, lo_b, hi_b) @ w) < abs(r) else (a, mid)
    return float(np.linalg.norm(np.clip(sign * b * w, lo_b, hi_b)))


@pytest.mark.parametrize("p", [math.inf, 2.0, 1.0], ids=["linf", "l2", "l1"])
def test_boundary_step_is_the_least_norm_point_of_the_hyperplane_in_the_box(p: float) -> None:
    g = torch.Generator().manual_seed(0)
    n, d = 50, 6
    t = torch.rand(n, d, generator=g, dtype=torch.float64)
    t[:20, 0] = 0.0  # on a face of the box
    w = torch.randn(n, d, generator=g, dtype=torch.float64)
    w[w.abs() < 0.3] = 0.0  # coordinates the hyperplane does not constrain
    r = torch.randn(n, generator=g, dtype=torch.float64) * 0.8
    step = boundary_step(t, w, r, 0.0, 1.0, p)
    moved = t + step
    assert bool((moved >= -1e-12).all() and (moved <= 1 + 1e-12).all())
    feasible = 0
    for i in range(n):
        want = _least_norm(t[i].numpy(), w[i].numpy(), float(r[i]), p)
        if want is None:  # the box misses the hyperplane: every coordinate pushed to its face
            helps = torch.where(w[i] * r[i] > 0, 1.0 - t[i], -t[i])
            torch.testing.assert_close(step[i], torch.where(w[i] != 0, helps, 0.0))
            continue
        feasible += 1
        assert float(step[i] @ w[i]) == pytest.approx(float(r[i]), abs=1e-9)
        got = float(torch.linalg.vector_norm(step[i], ord=p))
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9)
    assert feasible > n // 2


# ----- exact answers on a linear model ----------------------------------------------------


@pytest.mark.parametrize("norm", list(NORMS))
def test_fab_finds_the_exact_minimal_distance_on_a_linear_model(
    lin: tuple[nn.Module, Tensor, Tensor], norm: str
) -> None:
    model, x, y = lin
    cls, p = NORMS[norm]
    exact = linear_min_distance(model, x, p)
    one = advkit.attack(model, x, y, cls(math.inf, **FREE), FAB(steps=1))
    assert bool(one.success.all())
    torch.testing.assert_close(one.distance, 1.05 * exact, rtol=1e-4, atol=1e-6)  # η = 1.05
    res = advkit.attack(model, x, y, cls(math.inf, **FREE), FAB(steps=10))
    assert bool(res.success.all())
    assert bool((res.distance >= exact * (1 - 1e-5)).all())
    assert bool((res.distance <= exact * 1.01).all()), (res.distance / exact).max()


@pytest.mark.parametrize("norm", list(NORMS))
def test_within_eps_fab_breaks_everything_outside_the_exact_radius_and_nothing_inside(
    lin: tuple[nn.Module, Tensor, Tensor], norm: str
) -> None:
    """At 1.01 × the exact distance FAB breaks every sample, at a cost of a few steps; at
    0.99 × it breaks none (a certificate) and spends exactly steps × (K − 1) gradient
    calls per restart on each."""
    model, x, y = lin
    cls, p = NORMS[norm]
    exact = linear_min_distance(model, x, p)
    method = FAB(steps=20, restarts=2)
    outside = advkit.attack(model, x, y, cls(exact * 1.01, **FREE), method)
    assert bool(outside.success.all())
    assert int(outside.gradient_calls.max()) <= 2 * (K - 1)  # done at the second step
    inside = advkit.attack(model, x, y, cls(exact * 0.99, **FREE), method)
    assert not bool(inside.success.any())
    assert bool((inside.gradient_calls == 2 * 20 * (K - 1)).all())
    assert bool((inside.queries == 2 * 20 * K + 1).all())  # + one forward per step, + clean


@pytest.mark.parametrize("norm", list(NORMS))
def test_fab_t_over_every_class_with_refine_finds_the_exact_distance(
    lin: tuple[nn.Module, Tensor, Tensor], norm: str
) -> None:
    model, x, y = lin
    cls, p = NORMS[norm]
    exact = linear_min_distance(model, x, p)
    res = advkit.attack(
        model, x, y, cls(math.inf, **FREE), FABT(steps=10, target_classes=K - 1, refine=True)
    )
    assert bool(res.success.all())
    assert bool((res.distance <= exact * 1.01).all())
    assert bool((res.gradient_calls == (K - 1) * 10).all())


def test_fab_towards_a_given_target_reaches_it(lin: tuple[nn.Module, Tensor, Tensor]) -> None:
    model, x, y = lin
    target = (y + 1 + torch.arange(N) % (K - 1)) % K
    res = advkit.attack(model, x, y, L2(math.inf, **FREE), FAB(steps=10), target=target)
    assert bool(res.success.all())
    assert torch.equal(res.logits.argmax(dim=1), target)
    assert bool((res.gradient_calls == 10).all())  # one class per step


# ----- FAB-T: the most likely wrong classes, in order -------------------------------------


class Spy(WhiteBox):
    """White-box access that records the class each pass linearizes, per sample."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.seen: dict[int, list[int]] = {}

    def value_and_grad(
        self,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        objective: Objective,
        rows: Tensor,
        wanted: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        assert target is not None
        for row, t in zip(rows.tolist(), target.tolist(), strict=True):
            classes = self.seen.setdefault(row, [])
            if not classes or classes[-1] != t:
                classes.append(t)
        return super().value_and_grad(x, y, target, objective, rows, wanted)


def test_fab_t_attacks_the_most_likely_wrong_classes_in_order(
    lin: tuple[nn.Module, Tensor, Tensor],
) -> None:
    """Each sample runs towards its 1st, 2nd, 3rd most likely wrong class in turn, and
    only until it is broken within ε."""
    model, x, y = lin
    with torch.no_grad():
        z = model(x)
    ranked = top_others(z, y, 3)
    w = model[1].weight.detach()
    gaps = (z.gather(1, y[:, None]) - z) / (w[None] - w[y][:, None]).norm(dim=2)
    eps = gaps.gather(1, ranked).min(dim=1).values * 1.02  # one of the three is in reach
    spy = Spy(model)
    res = advkit.attack(spy, x, y, L2(eps, **FREE), FABT(steps=5, target_classes=3))
    ranked_rows = ranked.tolist()
    broken_late = 0
    for i in range(N):
        seen = spy.seen[i]
        assert seen == ranked_rows[i][: len(seen)]
        assert len(seen) == 3 or bool(res.success[i])  # stops at its first success
        broken_late += len(seen) > 1 and bool(res.success[i])
    assert broken_late > 0  # some samples are broken by a later target class only
    assert bool(res.success.all())


def test_fab_t_refuses_a_given_target(lin: tuple[nn.Module, Tensor, Tensor]) -> None:
    model, x, y = lin
    with pytest.raises(ValueError, match="chooses its own target classes"):
        advkit.attack(model, x, y, L2(1.0), FABT(steps=2), target=(y + 1) % K)


# ----- per-sample invariants where the box binds ------------------------------------------


@pytest.mark.parametrize("norm", list(NORMS))
def test_results_lie_in_the_box_and_report_true_distances(norm: str) -> None:
    torch.manual_seed(0)
    model = TinyCNN().eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 8, 8, generator=g)
    x[:, :, :2] = 0.0  # pixels on the box's face
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    cls, p = NORMS[norm]
    res = advkit.attack(model, x, y, cls(math.inf), FAB(steps=15, restarts=2))
    assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0
    delta = (res.x_adv - x).reshape(8, -1)
    torch.testing.assert_close(res.distance, torch.linalg.vector_norm(delta, ord=p, dim=1))
    with torch.no_grad():
        assert torch.equal(res.success, is_successful(model(res.x_adv), y))
    assert bool(res.success.all())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "steps and restarts"),
        ({"alpha_max": 1.5}, "alpha_max"),
        ({"eta": 0.9}, "eta"),
        ({"beta": 0.0}, "beta"),
        ({"restart_eps": math.inf}, "restart_eps"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FAB(**options)
    with pytest.raises(ValueError, match=message):
        FABT(**options)


# ----- one pass judges a new point and linearizes it --------------------------------------


def unfused(method: FABLoop) -> FABLoop:
    """``method`` judging every new point with a forward pass of its own and linearizing
    every iterate afresh: the iteration the shared pass must reproduce bit for bit."""

    class Unfused(type(method)):  # type: ignore[misc]
        def _judge(self, p: Problem, x: Tensor, s: FABState, last: bool) -> Tensor:
            return super()._judge(p, x, s, last=True)

    return Unfused(**{f.name: getattr(method, f.name) for f in fields(method)})


class RowByRow(nn.Module):
    """A model evaluated one row at a time: a row's logits and gradient do not depend on
    the batch it is evaluated in (PyTorch's CPU kernels round differently by batch size)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.net(row[None]) for row in x])


METHODS = {
    "fab-t": (FABT(steps=6, target_classes=3, restarts=2), False),
    "fab-t-refine": (FABT(steps=6, target_classes=3, restarts=2, refine=True), False),
    "fab": (FAB(steps=5, restarts=2), False),
    "fab-targeted": (FAB(steps=8, restarts=2, beta=0.5), True),
}
THREATS: dict[str, ThreatModel] = {
    "linf": Linf(0.05),
    "l1": L1(1.5),
    "l2-per-sample": L2(torch.linspace(0.05, 0.6, 12)),
    "l2-unbounded": L2(math.inf),
}
SHARED_PASS_CASES = [(m, t, "float32") for m in METHODS for t in THREATS] + [
    (m, "linf", dtype) for m in ("fab-t", "fab-targeted") for dtype in ("float64-inputs", "float64")
]


@pytest.mark.parametrize(("name", "threat_name", "dtype"), SHARED_PASS_CASES)
def test_the_pass_that_judges_a_point_and_linearizes_it_changes_no_point(
    name: str, threat_name: str, dtype: str
) -> None:
    """The points, successes and gradient calls are those of the iteration that judges
    and linearizes in separate passes, bit for bit, at fewer queries: samples leave at
    their first success within ε, points beyond it are pulled back towards x0 and
    linearized afresh, restarts start at random points, every round starts afresh."""
    (method, targeted), threat = METHODS[name], THREATS[threat_name]
    torch.manual_seed(0)
    model = RowByRow(TinyCNN().double() if dtype == "float64" else TinyCNN()).eval()
    x = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    x = x.double() if dtype != "float32" else x
    with torch.no_grad():
        y = model(x.to(next(model.parameters()).dtype)).argmax(dim=1)
    y[-2:] = (y[-2:] + 3) % 10  # two samples need no attack
    target = (y + 1 + torch.arange(12) % 9) % 10 if targeted else None
    fused, alone = (
        advkit.attack(model, x, y, threat, m, target=target, seed=3)
        for m in (method, unfused(method))
    )
    assert torch.equal(fused.x_adv, alone.x_adv)
    assert torch.equal(fused.success, alone.success)
    assert torch.equal(fused.gradient_calls, alone.gradient_calls)
    assert bool((fused.queries <= alone.queries).all())
    assert int(fused.queries.sum()) < int(alone.queries.sum())


# ----- the catalog and the command line ---------------------------------------------------


def test_fab_is_in_the_catalog() -> None:
    assert {"fab", "fab-t"} <= set(names(minimal=True, norm="l1"))
    assert make_attack("fab-t", steps=7) == FABT(steps=7)


def test_advkit_attack_runs_fab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "adv.npz"
    model = ["--model", "conftest:TinyCNN", "--dataset", "digits", "--n", "6"]
    argv = ["attack", "--attack", "fab", "--norm", "l1", "--eps", "inf", "--steps", "10"]
    assert cli.main([*argv, *model, "--out", str(out), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    saved = np.load(out)
    assert summary["attack"].startswith("FAB(steps=10, restarts=1")
    assert summary["success_rate"] == pytest.approx(float(saved["success"].mean()))
    assert summary["success_rate"] == 1.0
    assert (saved["x_adv"] >= 0).all() and (saved["x_adv"] <= 1).all()
