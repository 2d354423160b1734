"""Threat models: projection, sampling, support function, steepest ascent, validation.

Properties are checked with Hypothesis on small random shapes; every tensor is drawn from a
``torch.Generator`` seeded by Hypothesis, so a failing example is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import Tensor

from advkit.threat import L0, L1, L2, Linf, ThreatModel

pytestmark = pytest.mark.usefixtures("single_thread")

NORMS: list[type[ThreatModel]] = [Linf, L2, L1]
ORD = {Linf: math.inf, L2: 2.0, L1: 1.0}
DUAL_ORD = {Linf: 1.0, L2: 2.0, L1: math.inf}
TOL = 1e-5

PROPS = settings(max_examples=40, deadline=None)


@dataclass
class Case:
    """Random clean points in a box and arbitrary points around them."""

    x0: Tensor
    x: Tensor
    eps: float
    lo: float
    hi: float
    seed: int


@st.composite
def cases(draw: st.DrawFn, dtype: torch.dtype = torch.float32) -> Case:
    n = draw(st.integers(1, 4))
    shape = draw(st.sampled_from([(n, 1), (n, 7), (n, 30), (n, 1, 3, 4)]))
    seed = draw(st.integers(0, 2**31 - 1))
    lo = draw(st.sampled_from([0.0, -1.0, -3.0]))
    hi = lo + draw(st.sampled_from([1.0, 2.0, 5.0]))
    eps = draw(st.sampled_from([0.0, 1e-3]) | st.floats(0.01, 3.0))
    spread = draw(st.floats(0.01, 5.0))
    g = torch.Generator().manual_seed(seed)
    x0 = lo + (hi - lo) * torch.rand(shape, generator=g, dtype=dtype)
    # some clean coordinates exactly on the box edges
    edge = torch.rand(shape, generator=g, dtype=dtype)
    x0 = torch.where(edge < 0.1, torch.full_like(x0, lo), x0)
    x0 = torch.where(edge > 0.9, torch.full_like(x0, hi), x0)
    x = x0 + spread * torch.randn(shape, generator=g, dtype=dtype)
    return Case(x0, x, eps, lo, hi, seed)


def flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def lp(t: Tensor, cls: type[ThreatModel]) -> Tensor:
    return torch.linalg.vector_norm(flat(t), ord=ORD[cls], dim=1)


def assert_in_ball_and_box(x: Tensor, x0: Tensor, eps: Tensor | float, threat: ThreatModel) -> None:
    eps_t = torch.as_tensor(eps, dtype=torch.float64).expand(x.shape[0])
    norms = lp((x - x0).double(), type(threat))
    assert bool((norms <= eps_t + TOL * torch.clamp(eps_t, min=1.0)).all()), (norms, eps_t)
    assert float(x.min()) >= threat.lo - TOL
    assert float(x.max()) <= threat.hi + TOL


# ----- projection --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", NORMS)
@PROPS
@given(case=cases())
def test_project_lands_in_ball_and_box_and_is_idempotent(
    cls: type[ThreatModel], case: Case
) -> None:
    threat = cls(case.eps, lo=case.lo, hi=case.hi)
    p = threat.project(case.x, case.x0)
    assert p.shape == case.x.shape
    assert_in_ball_and_box(p, case.x0, case.eps, threat)
    pp = threat.project(p, case.x0)
    torch.testing.assert_close(pp, p, atol=TOL, rtol=0)


@pytest.mark.parametrize("cls", NORMS)
@PROPS
@given(case=cases(), shrink=st.floats(0.0, 0.95))
def test_project_is_identity_inside(cls: type[ThreatModel], case: Case, shrink: float) -> None:
    threat = cls(case.eps, lo=case.lo, hi=case.hi)
    inside = threat.project(case.x, case.x0)
    # shrinking towards x0 keeps the point in the box (convex) and strictly inside the ball
    inside = case.x0 + shrink * (inside - case.x0)
    torch.testing.assert_close(threat.project(inside, case.x0), inside, atol=1e-6, rtol=0)


def _l1_projection_by_bisection(v: Tensor, eps: float) -> Tensor:
    """Euclidean projection of each row of v onto {‖δ‖₁ ≤ ε} via bisection on θ."""
    out = v.clone()
    for i, row in enumerate(v):
        a = row.abs()
        if float(a.sum()) <= eps:
            continue
        lo, hi = 0.0, float(a.max())
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if float((a - mid).clamp_min(0).sum()) > eps:
                lo = mid
            else:
                hi = mid
        theta = 0.5 * (lo + hi)
        out[i] = row.sign() * (a - theta).clamp_min(0)
    return out


@PROPS
@given(case=cases(dtype=torch.float64))
def test_l1_projection_is_the_exact_euclidean_projection(case: Case) -> None:
    # a box so wide it never binds: project() is then the pure ℓ1-ball projection
    threat = L1(case.eps, lo=-1e6, hi=1e6)
    zero = torch.zeros_like(case.x)
    got = flat(threat.project(case.x, zero))
    want = _l1_projection_by_bisection(flat(case.x), case.eps)
    torch.testing.assert_close(got, want, atol=1e-9, rtol=0)


def _exact_projection_onto_ball_and_box(
    cls: type[ThreatModel], v: Tensor, lo: Tensor, hi: Tensor, eps: float
) -> Tensor:
    """argmin_{‖z‖ ≤ ε, lo ≤ z ≤ hi} ‖z − v‖₂ per row (KKT + bisection on the multiplier)."""

    def z_of(m: float, row: int) -> Tensor:
        if cls is L1:  # soft threshold, then clip
            z = v[row].sign() * (v[row].abs() - m).clamp_min(0)
        elif cls is L2:  # shrink, then clip
            z = v[row] / (1 + m)
        else:
            z = v[row].clamp(-eps, eps)
        return z.clamp(lo[row], hi[row])

    out = torch.empty_like(v)
    for i in range(v.shape[0]):
        if cls is Linf or float(lp(z_of(0.0, i)[None], cls)[0]) <= eps:
            out[i] = z_of(0.0, i)
            continue
        a, b = 0.0, 1e6
        for _ in range(300):
            mid = 0.5 * (a + b)
            if float(lp(z_of(mid, i)[None], cls)[0]) > eps:
                a = mid
            else:
                b = mid
        out[i] = z_of(b, i)
    return out


@pytest.mark.parametrize("cls", [Linf, L2, L1])
def test_project_is_the_euclidean_projection_onto_ball_and_box(cls: type[ThreatModel]) -> None:
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(8, 10, generator=g, dtype=torch.float64)
    x = x0 + torch.randn(8, 10, generator=g, dtype=torch.float64)
    eps = 1.0
    got = flat(cls(eps).project(x, x0)) - flat(x0)
    want = _exact_projection_onto_ball_and_box(cls, flat(x - x0), -flat(x0), 1 - flat(x0), eps)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@PROPS
@given(case=cases(dtype=torch.float64))
def test_l2_and_linf_projections_match_closed_forms(case: Case) -> None:
    zero = torch.zeros_like(case.x)
    v = flat(case.x)
    n = v.norm(dim=1, keepdim=True)
    want_l2 = torch.where(n > case.eps, v * case.eps / n.clamp_min(1e-300), v)
    got_l2 = flat(L2(case.eps, lo=-1e6, hi=1e6).project(case.x, zero))
    torch.testing.assert_close(got_l2, want_l2, atol=1e-9, rtol=0)
    got_linf = flat(Linf(case.eps, lo=-1e6, hi=1e6).project(case.x, zero))
    torch.testing.assert_close(got_linf, v.clamp(-case.eps, case.eps), atol=0, rtol=0)


@pytest.mark.parametrize("cls", NORMS)
@PROPS
@given(case=cases(), data=st.data())
def test_per_sample_eps_each_row_respects_its_own_radius(
    cls: type[ThreatModel], case: Case, data: st.DataObject
) -> None:
    n = case.x.shape[0]
    radii = data.draw(st.lists(st.floats(0.0, 3.0), min_size=n, max_size=n))
    eps = torch.tensor(radii)
    threat = cls(eps, lo=case.lo, hi=case.hi)
    p = threat.project(case.x, case.x0)
    assert_in_ball_and_box(p, case.x0, eps, threat)
    # row i is projected exactly as with the scalar radius eps[i]
    for i in range(n):
        alone = cls(radii[i], lo=case.lo, hi=case.hi).project(case.x[i : i + 1], case.x0[i : i + 1])
        torch.testing.assert_close(p[i : i + 1], alone, atol=1e-6, rtol=0)
    # and select() restricts the radii to the chosen rows
    rows = torch.arange(n).flip(0)
    sub = threat.select(rows).project(case.x[rows], case.x0[rows])
    torch.testing.assert_close(sub, p[rows], atol=1e-6, rtol=0)


# ----- sampling ----------------------------------------------------------------------------


def _gens(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.mark.parametrize("cls", NORMS)
@PROPS
@given(case=cases())
def test_sample_lies_in_ball_and_box_and_is_deterministic(
    cls: type[ThreatModel], case: Case
) -> None:
    threat = cls(case.eps, lo=case.lo, hi=case.hi)
    n = case.x0.shape[0]
    seeds = [case.seed + 17 * i for i in range(n)]
    s1 = threat.sample(case.x0, _gens(seeds))
    assert s1.shape == case.x0.shape
    assert_in_ball_and_box(s1, case.x0, case.eps, threat)
    s2 = threat.sample(case.x0, _gens(seeds))
    assert torch.equal(s1, s2)
    # a row's draw depends only on its own generator, not on the rest of the batch
    last = threat.sample(case.x0[-1:], _gens(seeds[-1:]))
    assert torch.equal(last, s1[-1:])


@pytest.mark.parametrize("cls", NORMS)
def test_sample_depends_on_the_generator_and_fills_the_ball(cls: type[ThreatModel]) -> None:
    threat = cls(0.5, lo=-10.0, hi=10.0)
    x0 = torch.zeros(200, 16)
    s = threat.sample(x0, _gens(list(range(200))))
    other = threat.sample(x0, _gens(list(range(1000, 1200))))
    assert not torch.equal(s, other)
    r = lp(s, cls) / 0.5
    assert float(r.max()) <= 1 + 1e-6
    # uniform in a 16-dimensional ball: most of the mass is near the sphere, some is not
    assert float(r.median()) > 0.8
    assert float(r.min()) < 0.9
    assert bool((s > 0).any()) and bool((s < 0).any())


def test_sample_per_sample_eps() -> None:
    eps = torch.tensor([0.0, 0.1, 1.0])
    for cls in NORMS:
        threat = cls(eps, lo=-10.0, hi=10.0)
        s = threat.sample(torch.zeros(3, 5), _gens([1, 2, 3]))
        norms = lp(s, cls)
        assert float(norms[0]) == 0.0
        assert bool((norms <= eps + 1e-6).all())


# ----- support function --------------------------------------------------------------------


def _maximizer(cls: type[ThreatModel], a: Tensor, eps: Tensor) -> Tensor:
    """δ* = argmax_{‖δ‖ ≤ ε} ⟨a, δ⟩, per row of a (N, d)."""
    e = eps[:, None]
    if cls is Linf:
        return a.sign() * e
    if cls is L2:
        return e * a / a.norm(dim=1, keepdim=True)
    idx = a.abs().argmax(dim=1)
    out = torch.zeros_like(a)
    out[torch.arange(a.shape[0]), idx] = a.sign()[torch.arange(a.shape[0]), idx] * eps
    return out


@pytest.mark.parametrize("cls", NORMS)
@PROPS
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 4),
    d=st.integers(1, 20),
    per_sample=st.booleans(),
)
def test_support_is_eps_times_dual_norm_and_attained(
    cls: type[ThreatModel], seed: int, n: int, d: int, per_sample: bool
) -> None:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    eps = torch.rand(n, generator=g, dtype=torch.float64) * 2 if per_sample else None
    threat = cls(eps if eps is not None else 0.7, lo=-1e6, hi=1e6)
    e = eps if eps is not None else torch.full((n,), 0.7, dtype=torch.float64)
    sup = threat.support(a)
    assert sup.shape == (n,)
    want = e * torch.linalg.vector_norm(a, ord=DUAL_ORD[cls], dim=1)
    torch.testing.assert_close(sup, want, atol=1e-9, rtol=1e-9)
    # the maximizer is feasible and attains the support value
    star = _maximizer(cls, a, e)
    assert bool((lp(star, cls) <= e + 1e-9).all())
    torch.testing.assert_close((a * star).sum(dim=1), sup, atol=1e-9, rtol=1e-9)
    # no feasible point does better
    zero = torch.zeros(n, d, dtype=torch.float64)
    pts = threat.sample(zero, _gens([seed % 1000 + i for i in range(n)]))
    assert bool(((a * pts).sum(dim=1) <= sup + 1e-9).all())


@pytest.mark.parametrize("cls", NORMS)
def test_support_with_two_batch_dims_uses_the_first_for_eps(cls: type[ThreatModel]) -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    eps = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    sup = cls(eps).support(a, batch_dims=2)
    assert sup.shape == (3, 4)
    want = eps[:, None] * torch.linalg.vector_norm(a, ord=DUAL_ORD[cls], dim=2)
    torch.testing.assert_close(sup, want)


# ----- steepest ascent ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", NORMS)
@PROPS
@given(case=cases())
def test_ascent_has_unit_norm_and_ascends(cls: type[ThreatModel], case: Case) -> None:
    g = case.x - case.x0  # nonzero almost surely
    assume(bool((flat(g).abs().amax(dim=1) > 0).all()))
    threat = cls(max(case.eps, 0.1), lo=case.lo, hi=case.hi)
    s = threat.ascent(g)
    assert s.shape == g.shape
    torch.testing.assert_close(lp(s, cls), torch.ones(g.shape[0]), atol=1e-5, rtol=0)
    assert bool(((flat(g) * flat(s)).sum(dim=1) > 0).all())
    # the step never moves a coordinate against its gradient
    assert bool((flat(g) * flat(s) >= 0).all())


def test_ascent_closed_forms() -> None:
    g = torch.tensor([[3.0, -4.0, 0.0, 1.0]])
    torch.testing.assert_close(Linf(0.1).ascent(g), torch.tensor([[1.0, -1.0, 0.0, 1.0]]))
    torch.testing.assert_close(L2(0.1).ascent(g), g / math.sqrt(26.0))
    # sparsity 0.5 of 4 coordinates: the top 2 by |g|, each with weight 1/2
    torch.testing.assert_close(
        L1(0.1, sparsity=0.5).ascent(g), torch.tensor([[0.5, -0.5, 0.0, 0.0]])
    )


@PROPS
@given(case=cases(), sparsity=st.sampled_from([0.0, 0.5, 0.9, 0.99]))
def test_l1_ascent_moves_the_largest_gradients(case: Case, sparsity: float) -> None:
    g = flat(case.x - case.x0)
    s = flat(L1(1.0, sparsity=sparsity).ascent(g))
    for row_g, row_s in zip(g, s, strict=True):
        chosen = row_s != 0
        if chosen.all() or not chosen.any():
            continue
        assert float(row_g.abs()[chosen].min()) >= float(row_g.abs()[~chosen].max())


@PROPS
@given(case=cases(), data=st.data())
def test_l1_ascent_never_pushes_out_of_the_box(case: Case, data: st.DataObject) -> None:
    threat = L1(1.0, lo=case.lo, hi=case.hi, sparsity=data.draw(st.sampled_from([0.0, 0.9])))
    g = torch.Generator().manual_seed(case.seed)
    grad = torch.randn(case.x0.shape, generator=g)
    # put many coordinates on the box edges, often with the gradient pointing outwards
    pick = torch.rand(case.x0.shape, generator=g)
    x = torch.where(pick < 0.3, torch.full_like(case.x0, case.hi), case.x0)
    x = torch.where(pick > 0.7, torch.full_like(case.x0, case.lo), x)
    s = threat.ascent(grad, x)
    outward = ((x >= case.hi) & (s > 0)) | ((x <= case.lo) & (s < 0))
    assert not bool(outward.any())
    movable = ((x < case.hi) & (grad > 0)) | ((x > case.lo) & (grad < 0))
    norms = lp(s, L1)
    for i in range(x.shape[0]):
        if bool(flat(movable)[i].any()):
            assert abs(float(norms[i]) - 1.0) < 1e-5
            assert float((flat(grad)[i] * flat(s)[i]).sum()) > 0
        else:
            assert float(norms[i]) == 0.0


def test_l1_ascent_skips_blocked_top_coordinate() -> None:
    # the largest gradient sits on the upper edge pointing out: the next one is chosen
    g = torch.tensor([[5.0, -1.0, 0.5, 0.1]])
    x = torch.tensor([[1.0, 0.5, 0.5, 0.5]])
    s = L1(1.0, sparsity=0.75).ascent(g, x)
    torch.testing.assert_close(s, torch.tensor([[0.0, -1.0, 0.0, 0.0]]))


# ----- norms and validation ----------------------------------------------------------------


@pytest.mark.parametrize("cls", NORMS)
def test_norm_matches_torch(cls: type[ThreatModel]) -> None:
    d = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(cls(0.1).norm(d), lp(d, cls))


@pytest.mark.parametrize("cls", NORMS)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": -0.1}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"eps": torch.tensor([0.1, -0.2])}, ">= 0"),
        ({"eps": torch.tensor([0.1, float("nan")])}, "finite"),
        ({"eps": torch.ones(2, 2)}, r"shape \(N,\)"),
        ({"eps": 0.1, "lo": 1.0, "hi": 1.0}, "lo < hi"),
        ({"eps": 0.1, "lo": 1.0, "hi": 0.0}, "lo < hi"),
    ],
)
def test_invalid_threats_raise(cls: type[ThreatModel], kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [*NORMS, L0])
@pytest.mark.parametrize("eps", [True, False, torch.tensor([True, False])])
def test_bool_eps_is_refused(cls: type[ThreatModel], eps: bool | Tensor) -> None:
    """``Linf(True)`` is a mistake (a flag passed where ε goes), never ε = 1."""
    with pytest.raises(
        TypeError, match=rf"eps must be a number, not a bool.*{cls.__name__}\(1\.0\)"
    ):
        cls(eps)


@pytest.mark.parametrize("cls", NORMS)
def test_unbounded_eps_is_a_threat_without_a_cap(cls: type[ThreatModel]) -> None:
    """ε = inf is accepted (minimal-distortion attacks only): projection is the box clip."""
    threat = cls(math.inf)
    assert not threat.bounded and cls(0.1).bounded
    assert not cls(torch.tensor([0.1, math.inf])).bounded
    x0 = torch.full((2, 5), 0.5)
    x = torch.tensor([[3.0, -2.0, 0.7, 0.1, 0.5]] * 2)
    torch.testing.assert_close(threat.project(x, x0), x.clamp(0, 1))


@pytest.mark.parametrize("cls", NORMS)
def test_per_sample_eps_of_the_wrong_length_raises(cls: type[ThreatModel]) -> None:
    threat = cls(torch.tensor([0.1, 0.2]))
    x0 = torch.rand(3, 4)
    with pytest.raises(ValueError, match="2 entries but the batch has 3"):
        threat.project(x0, x0)
    with pytest.raises(ValueError, match="2 entries but the batch has 3"):
        threat.sample(x0, _gens([0, 1, 2]))


@pytest.mark.parametrize("cls", NORMS)
def test_support_rejects_per_sample_eps_of_the_wrong_length(cls: type[ThreatModel]) -> None:
    # a single-entry eps tensor must not silently broadcast over a batch of 3
    with pytest.raises(ValueError, match="1 entries but the batch has 3"):
        cls(torch.tensor([0.5])).support(torch.randn(3, 4))


def test_support_keeps_float64_precision() -> None:
    a = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    assert float(Linf(0.1).support(a)[0]) == 0.1 * 3.0
    eps = torch.tensor([0.1], dtype=torch.float64)
    assert float(L2(eps).support(a)[0]) == 0.1 * math.sqrt(5.0)


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5])
def test_l1_sparsity_out_of_range_raises(sparsity: float) -> None:
    with pytest.raises(ValueError, match="sparsity"):
        L1(0.1, sparsity=sparsity)
