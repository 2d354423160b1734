"""Projecting with x0's bounds computed once (``ThreatModel.bounds``/``project_within``,
``Problem.project``) gives the points of the plain projection, bit for bit; APGD computes
them once per compacted problem, not twice per step; L∞'s norm is one cheap pass."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

import advkit
from advkit.access import WhiteBox
from advkit.engine import Problem
from advkit.threat import L0, L1, L2, Linf, ThreatModel
from conftest import TinyCNN

pytestmark = pytest.mark.usefixtures("single_thread")

EPS = [0.0, 0.05, 0.3, torch.linspace(0.0, 0.4, 16), math.inf]


def _points(seed: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Clean points with pixels at both ends of the box, and points around them (some far
    outside), one row left at x0."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(16, 1, 6, 6, generator=g, dtype=dtype)
    x0[x0 < 0.2], x0[x0 > 0.8] = 0.0, 1.0
    x = x0 + torch.randn(x0.shape, generator=g, dtype=dtype) * (0.01, 0.3, 2.0)[seed % 3]
    x[0] = x0[0]
    return x, x0


def _linf_reference(threat: Linf, x: Tensor, x0: Tensor) -> Tensor:
    """L∞ projection as min/max against ±ε, then the box's offsets, then the box."""
    z, e = (x - x0).flatten(1), threat.radius(x0).reshape(-1, 1)
    delta = torch.maximum(torch.minimum(z, e), -e).clamp(
        (0.0 - x0).flatten(1), (1.0 - x0).flatten(1)
    )
    return (x0 + delta.reshape(x.shape)).clamp(0.0, 1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("seed", range(6))
def test_linf_with_eps_folded_into_the_bounds_is_bit_identical(
    seed: int, dtype: torch.dtype
) -> None:
    x, x0 = _points(seed, dtype)
    for eps in EPS:
        threat = Linf(eps)
        got = threat.project_within(x, x0, threat.bounds(x0))
        want = _linf_reference(threat, x, x0)
        assert torch.equal(
            got.view(-1).view(torch.int64 if dtype == torch.float64 else torch.int32),
            want.view(-1).view(torch.int64 if dtype == torch.float64 else torch.int32),
        )


@pytest.mark.parametrize("kind", [L2, L1, L0], ids=lambda k: k.__name__)
def test_a_problem_projects_like_its_threat(kind: type[ThreatModel]) -> None:
    x, x0 = _points(1, torch.float32)
    threat = kind(3.0 if kind is L0 else 0.5)
    p = Problem(
        WhiteBox(TinyCNN()).fresh(16),
        x0,
        torch.zeros(16, dtype=torch.long),
        None,
        threat,
        torch.arange(16),
        torch.arange(16),
        seed=0,
    )
    assert torch.equal(p.project(x), threat.project(x, x0))
    assert p.bounds is p.bounds  # computed once per problem
    assert p.subset(torch.tensor([1, 2])).bounds.lo.shape[0] == 2


def test_apgd_computes_the_bounds_once_per_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    plain = Linf.bounds

    def counted(self: Linf, x0: Tensor):  # type: ignore[no-untyped-def]
        calls.append(x0.shape[0])
        return plain(self, x0)

    monkeypatch.setattr(Linf, "bounds", counted)
    torch.manual_seed(0)
    model = TinyCNN().eval()
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    advkit.attack(model, x, y, Linf(1e-4), advkit.APGD(steps=20))  # nothing breaks
    assert calls == [8]  # once: every row is attacked, so the round's problem is the
    # caller's, and its final projection reuses them


def test_linf_norm_is_the_max_abs_in_one_pass() -> None:
    x, x0 = _points(2, torch.float32)
    want = torch.linalg.vector_norm((x - x0).flatten(1), ord=math.inf, dim=1)
    assert torch.equal(Linf(0.1).norm(x - x0), want)
