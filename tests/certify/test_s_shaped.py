"""Sigmoid and tanh: their linear relaxations contain the function on every interval
(Hypothesis), CROWN and α-CROWN bounds of whole sigmoid/tanh networks contain sampled
outputs, a trained sigmoid MLP certifies, and MIP refuses them."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

import advkit
from advkit.certify.ops import Sigmoid, SShaped, Tanh
from advkit.data import load_dataset

pytestmark = pytest.mark.usefixtures("single_thread")

OPS = [Sigmoid(), Tanh()]
ends = st.floats(-60.0, 60.0, allow_nan=False) | st.floats(-1e4, 1e4, allow_nan=False)


def _check_lines(op: SShaped, lo: float, hi: float, alpha: float, dtype: torch.dtype) -> None:
    lo_t, hi_t = torch.tensor([lo], dtype=dtype), torch.tensor([hi], dtype=dtype)
    low_s, low_b, up_s, up_b = op.relaxation(lo_t, hi_t, torch.tensor([alpha], dtype=dtype))
    t = torch.linspace(0, 1, 401, dtype=torch.float64)
    x = torch.cat([torch.tensor([lo, hi]), lo + t * (hi - lo)]).to(dtype)
    x = x.clamp(lo_t, hi_t)
    y = op.f(x.double())
    tol = 1e-9 if dtype == torch.float64 else 2e-6
    assert (low_s.double() * x.double() + low_b.double() <= y + tol).all()
    assert (up_s.double() * x.double() + up_b.double() >= y - tol).all()


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.describes)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@settings(max_examples=40, deadline=None)
@given(a=ends, b=ends, alpha=st.floats(0.0, 1.0), width=st.sampled_from([None, 0.0, 1e-7, 1e-4]))
@example(a=-5.0, b=132.0, alpha=0.0, width=None)  # float32: σ' by 1 − σ lost the far end
def test_lines_contain_the_function_on_any_interval(
    op: SShaped, dtype: torch.dtype, a: float, b: float, alpha: float, width: float | None
) -> None:
    lo, hi = (min(a, b), max(a, b)) if width is None else (a, a + width)
    _check_lines(op, lo, hi, alpha, dtype)
    _check_lines(op, lo, hi, float(op.default_alpha(torch.tensor(lo), torch.tensor(hi))), dtype)


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.describes)
def test_crown_default_lines_are_the_known_ones(op: SShaped) -> None:
    lo, hi = torch.tensor([-3.0, 1.0, -1.0]), torch.tensor([-1.0, 3.0, 4.0])
    low_s, _, up_s, _ = op.relaxation(lo, hi)
    chord = (op.f(hi) - op.f(lo)) / (hi - lo)
    torch.testing.assert_close(up_s[0], chord[0])  # convex: secant above
    torch.testing.assert_close(low_s[0], op.df(torch.tensor(-2.0)))  # tangent at the middle
    torch.testing.assert_close(low_s[1], chord[1])  # concave: secant below
    torch.testing.assert_close(up_s[1], op.df(torch.tensor(2.0)))


def _net(act: type[nn.Module], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(6, 12), act(), nn.Linear(12, 8), act(), nn.Linear(8, 3)
    ).eval()


@pytest.mark.parametrize("act", [nn.Sigmoid, nn.Tanh], ids=lambda a: a.__name__)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.01, 0.5))
def test_network_bounds_contain_sampled_margins(
    act: type[nn.Module], seed: int, eps: float
) -> None:
    net = _net(act, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 6, generator=g)
    y = net(x).argmax(1)
    threat = advkit.Linf(eps)
    for method in (advkit.IBP(), advkit.CROWN(), advkit.AlphaCROWN(steps=3)):
        res = advkit.certify(net, x, y, threat, method)
        pts = x[None] + (2 * torch.rand(64, *x.shape, generator=g) - 1) * eps
        pts = torch.cat([pts, (x + eps)[None], (x - eps)[None]]).clamp(0, 1)
        with torch.no_grad():
            out = net(pts.reshape(-1, 6)).reshape(pts.shape[0], 4, 3)
        margin = out.gather(2, y[None, :, None].expand(pts.shape[0], -1, 3)) - out
        lower = res.class_lower.clone()
        lower[torch.arange(4), y] = 0.0
        assert (lower[None] <= margin + 1e-5).all(), method


def _fitted_sigmoid_mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """64 random sigmoid features of the digits, the output layer fitted by ridge
    regression in closed form (instant, deterministic, ~97% on the test digits)."""
    x, y = load_dataset("digits", split="train")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Sigmoid(), nn.Linear(64, 10))
    with torch.no_grad():
        net[1].weight.normal_(0, 0.5)
        net[1].bias.normal_(0, 0.5)
        h = net[2](net[1](net[0](x))).double()
        f = torch.cat([h, torch.ones(len(h), 1, dtype=torch.float64)], 1)
        gram = f.T @ f + 0.1 * torch.eye(f.shape[1], dtype=torch.float64)
        w = torch.linalg.solve(gram, f.T @ nn.functional.one_hot(y, 10).double())
        net[3].weight.copy_(w[:-1].T.float())
        net[3].bias.copy_(w[-1].float())
    xt, yt = load_dataset("digits", split="test", limit=40)
    return net.eval(), xt, yt


def test_trained_sigmoid_mlp_certifies_and_mip_refuses_it() -> None:
    net, x, y = _fitted_sigmoid_mlp()
    keep = net(x).argmax(1) == y
    x, y = x[keep], y[keep]
    threat = advkit.Linf(0.02)
    crown = advkit.certify(net, x, y, threat, advkit.CROWN())
    alpha = advkit.certify(net, x, y, threat, advkit.AlphaCROWN(steps=10))
    assert crown.certified.sum() >= 0.8 * len(y)  # measured: 37 of 39
    assert (alpha.lower >= crown.lower - 1e-6).all()
    assert (alpha.certified | ~crown.certified).all()
    with pytest.raises(TypeError, match=r"Sigmoid.*not piecewise linear.*CROWN"):
        advkit.certify(net, x[:2], y[:2], threat, advkit.MIP())


def test_alpha_crown_certifies_sigmoid_samples_crown_cannot() -> None:
    """At ε 0.06 the tangent points α-CROWN optimizes certify samples CROWN's default lines
    leave open (measured: CROWN 1, α-CROWN 4 of 39), and no certified sample falls to APGD."""
    net, x, y = _fitted_sigmoid_mlp()
    keep = net(x).argmax(1) == y
    x, y = x[keep], y[keep]
    threat = advkit.Linf(0.06)
    crown = advkit.certify(net, x, y, threat, advkit.CROWN())
    alpha = advkit.certify(net, x, y, threat, advkit.AlphaCROWN())
    gained = alpha.certified & ~crown.certified
    assert int(gained.sum()) >= 2
    assert (alpha.certified | ~crown.certified).all()
    attacked = advkit.attack(net, x, y, threat, advkit.APGD())
    assert not (attacked.success & alpha.certified).any()
