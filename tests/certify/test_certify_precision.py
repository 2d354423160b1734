"""Certifying models of other dtypes than float32: a float64 model is bounded in float64, a
half-precision one through a float32 copy, and the decisions are the model's own."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.certify import Certifier, Smoothing, smoothed_certify

pytestmark = pytest.mark.usefixtures("single_thread")

HALF = [torch.bfloat16, torch.float16]
METHODS = [advkit.IBP(), advkit.CROWN()]
N = 16
# per-sample radii from easily certified to easily broken, so both outcomes occur
LINF = advkit.Linf(torch.linspace(0.005, 0.2, N))
L2 = advkit.L2(torch.linspace(0.02, 1.0, N))
L1 = advkit.L1(torch.linspace(0.02, 1.0, N))


def _net(pool: bool = True) -> nn.Module:
    """A small conv ReLU net on 1×6×6 inputs with 3 classes (max pooling or a stride)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, stride=1 if pool else 2),
        nn.ReLU(),
        nn.MaxPool2d(2) if pool else nn.Identity(),
        nn.Flatten(),
        nn.Linear(36, 16),
        nn.ReLU(),
        nn.Linear(16, 3),
    ).eval()


def _batch(net: nn.Module, n: int = N) -> tuple[Tensor, Tensor]:
    x = torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return x, net(x).argmax(1)


def _same_certificates(net: nn.Module, threat: advkit.ThreatModel, method: Certifier) -> None:
    """``net`` and its float64 copy get the same certificates; the copy's are float64."""
    x, y = _batch(net, threat.eps_vector(N).numel())
    ref = advkit.certify(net, x, y, threat, method)
    res = advkit.certify(copy.deepcopy(net).double(), x.double(), y, threat, method)
    assert res.lower.dtype == torch.float64
    torch.testing.assert_close(res.lower, ref.lower.double(), atol=1e-4, rtol=1e-4)
    assert torch.equal(res.certified, ref.certified)
    assert ref.certified.any() and not ref.certified.all()  # both outcomes are compared


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize("threat", [LINF, L1], ids=["linf", "l1"])
def test_a_float64_model_is_certified_in_float64_like_its_float32_original(
    method: Certifier, threat: advkit.ThreatModel
) -> None:
    _same_certificates(_net(), threat, method)


def test_a_float64_model_is_verified_exactly_by_mip() -> None:
    threat = advkit.Linf(torch.tensor([0.005, 0.01, 0.1, 0.2]))
    _same_certificates(_net(pool=False), threat, advkit.MIP())


def test_a_float64_affine_model_gets_its_exact_radius() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()
    x = torch.rand(8, 1, 4, 4, dtype=torch.float64)
    wide = copy.deepcopy(net).double()
    y = wide(x).argmax(1)
    res = advkit.certify(wide, x, y, advkit.L2(0.05), advkit.LinearExact())
    ref = advkit.certify(net, x.float(), y, advkit.L2(0.05), advkit.LinearExact())
    torch.testing.assert_close(res.lower, ref.lower.double(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize("threat", [LINF, L2], ids=["linf", "l2"])
def test_half_models_are_certified_soundly(
    dtype: torch.dtype, method: Certifier, threat: advkit.ThreatModel
) -> None:
    half = copy.deepcopy(_net()).to(dtype)
    x32, _ = _batch(_net())
    x = x32.to(dtype)
    with torch.no_grad():
        y = half(x).argmax(1)
    res = advkit.certify(half, x, y, threat, method)
    assert res.certified.any() and not res.certified.all()
    with torch.no_grad():  # certified samples are classified correctly by the model itself
        assert bool((half(x).argmax(1) == y)[res.certified].all())
    attacked = advkit.attack(half, x, y, threat, advkit.PGD(steps=30, restarts=2))
    assert not bool((attacked.success & res.certified).any())
    assert attacked.success.any()  # the attack is strong enough to break something
    assert next(half.parameters()).dtype == dtype  # the caller's model is left as it was


def test_smoothing_feeds_a_half_model_its_own_dtype() -> None:
    net = _net()
    x, y = _batch(net, 4)
    config = Smoothing(sigma=0.05, n0=20, n=100)
    ref = smoothed_certify(net, x, config)
    res = smoothed_certify(copy.deepcopy(net).to(torch.bfloat16), x, config)
    assert res.prediction.shape == (4,)
    assert torch.equal(res.prediction == y, ref.prediction == y)
