"""The L0 threat model: counting, projection (top-k changes, exact), ascent, sampling, support.

Properties are checked with Hypothesis on small random shapes; every tensor comes from a
``torch.Generator`` seeded by Hypothesis.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import advkit
from advkit import L0
from advkit.attacks.minimal_eps import MinimalEps

pytestmark = pytest.mark.usefixtures("single_thread")

PROPS = settings(max_examples=60, deadline=None)


@dataclass
class Case:
    x0: Tensor
    x: Tensor
    k: float
    lo: float
    hi: float
    seed: int


@st.composite
def cases(draw: st.DrawFn, inside: bool = False) -> Case:
    n = draw(st.integers(1, 4))
    shape = draw(st.sampled_from([(n, 1), (n, 6), (n, 25), (n, 2, 3, 2)]))
    seed = draw(st.integers(0, 2**31 - 1))
    lo = draw(st.sampled_from([0.0, -1.0]))
    hi = lo + draw(st.sampled_from([1.0, 3.0]))
    k = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.7, 10.0, math.inf]))
    g = torch.Generator().manual_seed(seed)
    x0 = lo + (hi - lo) * torch.rand(shape, generator=g)
    edge = torch.rand(shape, generator=g)
    x0 = torch.where(edge < 0.15, torch.full_like(x0, lo), x0)
    x0 = torch.where(edge > 0.85, torch.full_like(x0, hi), x0)
    x = x0 + torch.randn(shape, generator=g) * draw(st.floats(0.05, 3.0))
    # some coordinates unchanged, as attacks leave them
    x = torch.where(torch.rand(shape, generator=g) < 0.3, x0, x)
    if inside:
        x = x.clamp(lo, hi)
    return Case(x0, x, k, lo, hi, seed)


def flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def count(d: Tensor) -> Tensor:
    return (flat(d) != 0).sum(dim=1)


@PROPS
@given(case=cases())
def test_project_lands_in_the_set_and_the_box_and_is_idempotent(case: Case) -> None:
    threat = L0(case.k, lo=case.lo, hi=case.hi)
    p = threat.project(case.x, case.x0)
    assert p.shape == case.x.shape
    d = case.x0[0].numel()
    assert bool((count(p - case.x0) <= min(case.k, d)).all())
    assert float(p.min()) >= case.lo and float(p.max()) <= case.hi
    assert torch.equal(threat.project(p, case.x0), p)
    torch.testing.assert_close(threat.norm(p - case.x0), count(p - case.x0).float())


@PROPS
@given(case=cases(inside=True))
def test_project_keeps_exactly_the_k_largest_changes(case: Case) -> None:
    """Inside the box: every coordinate is either unchanged or back at x0, exactly
    min(k, #changed) coordinates stay changed, and no dropped change is larger than a kept one."""
    threat = L0(case.k, lo=case.lo, hi=case.hi)
    delta = flat(case.x - case.x0)
    got = flat(threat.project(case.x, case.x0) - case.x0)
    assert bool(((got == delta) | (got == 0)).all())
    want = torch.minimum(count(delta), torch.tensor(min(case.k, delta.shape[1])).floor().long())
    assert torch.equal(count(got), want)
    for row_d, row_g in zip(delta, got, strict=True):
        kept, dropped = row_d[row_g != 0].abs(), row_d[(row_g == 0) & (row_d != 0)].abs()
        if kept.numel() and dropped.numel():
            assert float(kept.min()) >= float(dropped.max())


def _brute_projection(z: Tensor, lo: Tensor, hi: Tensor, k: int) -> Tensor:
    """argmin over {‖δ‖₀ ≤ k} ∩ [lo, hi] of ‖δ − z‖₂ by enumerating supports."""
    d = z.numel()
    best, best_cost = torch.zeros_like(z), math.inf
    for size in range(min(k, d) + 1):
        for support in itertools.combinations(range(d), size):
            cand = torch.zeros_like(z)
            idx = list(support)
            cand[idx] = z[idx].clamp(lo[idx], hi[idx])
            cost = float((cand - z).square().sum())
            if cost < best_cost - 1e-12:
                best, best_cost = cand, cost
    return best


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 6), k=st.integers(0, 6))
def test_project_is_the_exact_euclidean_projection(seed: int, d: int, k: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(1, d, generator=g, dtype=torch.float64)
    x = x0 + 1.5 * torch.randn(1, d, generator=g, dtype=torch.float64)
    got = L0(float(k)).project(x, x0) - x0
    want = _brute_projection((x - x0)[0], -x0[0], 1 - x0[0], k)
    # equal cost (the minimizer may differ only on exact ties)
    cost_got = float((got[0] - (x - x0)[0]).square().sum())
    cost_want = float((want - (x - x0)[0]).square().sum())
    assert abs(cost_got - cost_want) < 1e-9


@PROPS
@given(case=cases(), data=st.data())
def test_per_sample_k(case: Case, data: st.DataObject) -> None:
    n = case.x.shape[0]
    ks = data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0]), min_size=n, max_size=n))
    threat = L0(torch.tensor(ks), lo=case.lo, hi=case.hi)
    p = threat.project(case.x, case.x0)
    for i in range(n):
        alone = L0(ks[i], lo=case.lo, hi=case.hi).project(case.x[i : i + 1], case.x0[i : i + 1])
        assert torch.equal(p[i : i + 1], alone)


@PROPS
@given(case=cases())
def test_sample_is_in_the_set_deterministic_and_per_sample(case: Case) -> None:
    threat = L0(case.k, lo=case.lo, hi=case.hi)
    n = case.x0.shape[0]
    gens = [torch.Generator().manual_seed(case.seed + i) for i in range(n)]
    s = threat.sample(case.x0, gens)
    assert bool((count(s - case.x0) <= min(case.k, case.x0[0].numel())).all())
    assert float(s.min()) >= case.lo and float(s.max()) <= case.hi
    again = threat.sample(case.x0, [torch.Generator().manual_seed(case.seed + i) for i in range(n)])
    assert torch.equal(s, again)
    last = threat.sample(case.x0[-1:], [torch.Generator().manual_seed(case.seed + n - 1)])
    assert torch.equal(last, s[-1:])


@PROPS
@given(case=cases())
def test_ascent_moves_the_top_k_unblocked_gradients_and_ascends(case: Case) -> None:
    bounded_k = case.k if math.isfinite(case.k) else 4.0
    threat = L0(bounded_k, lo=case.lo, hi=case.hi)
    g = torch.randn(case.x0.shape, generator=torch.Generator().manual_seed(case.seed))
    s = flat(threat.ascent(g, case.x0))
    gf, xf = flat(g), flat(case.x0)
    k = min(math.floor(bounded_k), gf.shape[1])
    blocked = ((xf >= case.hi) & (gf > 0)) | ((xf <= case.lo) & (gf < 0))
    assert not bool((blocked & (s != 0)).any())
    for row_g, row_s, row_b in zip(gf, s, blocked, strict=True):
        movable = int((~row_b & (row_g != 0)).sum())
        assert int((row_s != 0).sum()) == min(k, movable)
        assert bool((row_g * row_s >= 0).all())
        if k and movable:
            chosen = row_s != 0
            assert float((row_g * row_s).sum()) > 0
            # each chosen feature moves by (hi − lo)/ε
            torch.testing.assert_close(
                row_s[chosen].abs(), torch.full_like(row_s[chosen], (case.hi - case.lo) / bounded_k)
            )
            rest = ~chosen & ~row_b
            if rest.any():
                assert float(row_g.abs()[chosen].min()) >= float(row_g.abs()[rest].max())


def test_norm_counts_features_and_support_is_unbounded() -> None:
    d = torch.tensor([[0.0, 0.3, -1e-9, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(L0(2).norm(d), torch.tensor([2.0, 0.0]))
    # per channel: a pixel changed in 3 channels counts 3
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[0, :, 0, 0] = 0.5
    assert float(L0(2).norm(rgb)[0]) == 3.0
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert L0(1).support(a).tolist() == [math.inf, 0.0]
    assert L0(0.5).support(a).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="no dual norm"):
        L0(1).dual_norm(a)


def test_l0_threat_is_refused_by_certifiers_and_usable_by_gradient_attacks() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="L0"):
        advkit.certify(model, x, y, L0(3), advkit.IBP())
    res = advkit.attack(model, x, y, L0(3), advkit.PGD(steps=5, restarts=1))
    assert bool((res.distance <= 3).all())
    res = advkit.attack(model, x, y, L0(math.inf), MinimalEps(advkit.BIM(steps=5), search_steps=4))
    assert bool((res.distance <= 16).all()) and bool(res.success.any())


@pytest.mark.parametrize("eps", [-1.0, float("nan")])
def test_bad_l0_radius_is_refused(eps: float) -> None:
    with pytest.raises(ValueError, match="eps"):
        L0(eps)
