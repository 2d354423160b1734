"""Rounding projected points to a narrower dtype without leaving the threat's set:
``round_toward`` and ``ThreatModel.round_to``."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from advkit.threat import L0, L1, L2, Linf, ThreatModel
from advkit.threat.rounding import round_toward

pytestmark = pytest.mark.usefixtures("single_thread")

HALF = [torch.bfloat16, torch.float16]
THREATS = [Linf(0.1), Linf(8 / 255), L2(0.5), L1(2.0), L0(5), Linf(0.0), L2(0.0)]


def _points(dtype: torch.dtype, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Clean points on the ``dtype`` grid (as float32) and arbitrary points around them."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(64, 3, 8, 8, generator=g).to(dtype).float()
    return x0, x0 + 0.3 * torch.randn(x0.shape, generator=g)


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_round_toward_never_moves_a_coordinate_away_from_the_center(dtype: torch.dtype) -> None:
    x0, v = _points(dtype)
    out = round_toward(v, x0, dtype)
    assert out.dtype == dtype
    wide = out.float()
    assert bool(((wide - x0).abs() <= (v - x0).abs()).all())
    # the nearest value, or (where that one is outward) its neighbour toward x0
    near = v.to(dtype)
    inward = torch.nextafter(near, x0.to(dtype))
    assert bool(((out == near) | (out == inward)).all())
    assert bool((out != near).any())  # some coordinates did round outward


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("threat", THREATS, ids=lambda t: t.describe())
def test_round_to_stays_in_the_ball_and_the_box_exactly(
    dtype: torch.dtype, threat: ThreatModel
) -> None:
    x0, x = _points(dtype)
    projected = threat.project(x, x0)
    out = threat.round_to(projected, x0, dtype)
    assert out.dtype == dtype and out.shape == x0.shape
    wide = out.float()
    eps = threat.radius(x0).reshape(-1)
    assert bool((threat.norm(wide - x0) <= eps).all())
    assert bool((wide >= threat.lo).all() and (wide <= threat.hi).all())


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_round_to_keeps_the_nearest_rounding_where_it_fits(dtype: torch.dtype) -> None:
    """A row whose nearest rounding (what a model of that dtype evaluated) fits keeps it."""
    threat = L2(0.5)
    x0, x = _points(dtype)
    projected = threat.project(x, x0)
    near = projected.to(dtype)
    fits = threat.norm(near.float() - x0) <= 0.5
    assert fits.any() and not fits.all()  # both kinds of rows occur
    out = threat.round_to(projected, x0, dtype)
    assert torch.equal(out[fits], near[fits])


def test_round_to_is_the_identity_in_the_working_dtype() -> None:
    x0, x = _points(torch.float32)
    projected = Linf(0.1).project(x, x0)
    assert Linf(0.1).round_to(projected, x0, torch.float32) is projected


def test_round_to_handles_per_sample_radii() -> None:
    x0, x = _points(torch.bfloat16)
    eps = torch.linspace(0.0, 0.3, x0.shape[0])
    threat = Linf(eps)
    out = threat.round_to(threat.project(x, x0), x0, torch.bfloat16)
    assert bool((threat.norm(out.float() - x0) <= eps).all())
