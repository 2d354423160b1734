"""MIP keeps every counterexample it is given or finds: a warm-start point that already
changes the label answers the sample without any solve, and a time-limited solve's
incumbent is returned (re-checked by a forward pass) instead of being discarded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import advkit
from advkit.certify import mip

pytestmark = pytest.mark.usefixtures("single_thread")

THREAT = advkit.Linf(0.3)


def _case() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A tiny ReLU MLP, 6 inputs, labels, and per sample a point of the ball that changes
    the label (found by sampling) with a mask of the samples that have one."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 3)).eval()
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(6, 4, generator=g)
    y = net(x).argmax(1)
    pts = (x + 0.3 * (2 * torch.rand(512, 6, 4, generator=g) - 1)).clamp(0, 1)
    with torch.no_grad():
        wrong = net(pts.reshape(-1, 4)).argmax(1).reshape(512, 6) != y
    first = wrong.float().argmax(0)
    return net, x, y, pts[first, torch.arange(6)], wrong.any(0)


def _no_solve(*args: object) -> tuple[str, float, np.ndarray | None]:
    raise AssertionError("no MILP should be solved for a sample its warm start decides")


def test_a_violating_warm_start_answers_without_solving(monkeypatch: pytest.MonkeyPatch) -> None:
    net, x, y, point, has = _case()
    assert has.sum() >= 2, "the case needs samples with counterexamples"
    monkeypatch.setattr(mip, "solve", _no_solve)
    res = advkit.certify(net, x[has], y[has], THREAT, advkit.MIP(), warm_start=point[has])
    assert res.attacked.all()
    torch.testing.assert_close(res.x_adv, point[has])
    assert (net(res.x_adv).argmax(1) != y[has]).all()


def test_a_warm_start_that_does_not_violate_leaves_the_exact_answer() -> None:
    net, x, y, _, _ = _case()
    plain = advkit.certify(net, x, y, THREAT, advkit.MIP())
    warm = advkit.certify(net, x, y, THREAT, advkit.MIP(), warm_start=x)
    assert plain.status() == warm.status()
    torch.testing.assert_close(plain.lower, warm.lower)
    with pytest.raises(ValueError, match="warm_start must have the inputs' shape"):
        advkit.certify(net, x, y, THREAT, advkit.MIP(), warm_start=x[:2])


def test_a_time_limited_solve_keeps_its_incumbent(monkeypatch: pytest.MonkeyPatch) -> None:
    net, x, y, _, _ = _case()
    plain = advkit.certify(net, x, y, THREAT, advkit.MIP())
    assert plain.attacked.sum() >= 2
    real = mip.solve

    def stopped(*args: object, **kwargs: object) -> tuple[str, float, np.ndarray | None]:
        _, _, sol = real(*args, **kwargs)  # type: ignore[arg-type]
        return "limit", -math.inf, sol  # stopped at the limit, holding the incumbent

    monkeypatch.setattr(mip, "solve", stopped)
    res = advkit.certify(net, x, y, THREAT, advkit.MIP(time_limit=5))
    assert torch.equal(res.attacked, plain.attacked)
    assert (net(res.x_adv[res.attacked]).argmax(1) != y[res.attacked]).all()
    # without a dual bound the only proofs left are CROWN's
    crown = advkit.certify(net, x, y, THREAT, advkit.CROWN())
    assert torch.equal(res.certified, crown.certified)
