"""Exact MIP verification under the L1 threat: linear models exactly, ReLU nets sandwiched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import advkit
from advkit.certify import linear_min_distance, mip_min_distance


def _linear(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).eval()
    with torch.no_grad():
        net[1].weight.mul_(4.0)  # steeper: several minimal distances fall inside the box
    return net


def test_l1_mip_on_linear_model_is_the_closed_form() -> None:
    net = _linear(0)
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.4 * torch.rand(6, 1, 12, generator=g)  # the L1 ball below stays in [0, 1]
    y = net(x).argmax(1)
    threat = advkit.L1(0.2)
    exact = advkit.certify(net, x, y, threat, advkit.LinearExact())
    mip = advkit.certify(net, x, y, threat, advkit.MIP(exact_margins=True))
    assert torch.allclose(mip.class_lower, exact.class_lower, atol=1e-4)
    dist, x_adv = mip_min_distance(net, x, y, 1.0, norm="l1")
    closed = linear_min_distance(net, x, y, advkit.L1(1.0))
    inside = closed < 0.3  # one coordinate moves by the distance: the box cannot bind
    assert inside.sum() >= 2
    assert torch.allclose(dist[inside], closed[inside], atol=1e-4)
    assert (dist >= closed - 1e-4).all()
    found = torch.isfinite(dist) & (dist > 0)
    gap = (x_adv - x).abs().flatten(1).sum(1)
    assert torch.allclose(gap[found], dist[found], atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_l1_mip_lies_between_crown_and_attacks(seed: int) -> None:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 4)
    ).eval()
    x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    y = net(x).argmax(1)
    threat = advkit.L1(0.6)
    crown = advkit.certify(net, x, y, threat, advkit.CROWN())
    mip = advkit.certify(net, x, y, threat, advkit.MIP(time_limit=20))
    adv = advkit.attack(net, x, y, threat, advkit.PGD(steps=50, restarts=2), seed=seed)
    status = mip.status()
    assert "unknown" not in status
    assert (crown.lower <= mip.lower + 1e-4).all()
    assert not (mip.certified & adv.success).any()
    assert not (crown.certified & mip.attacked).any()
    # counterexamples are real: misclassified, inside the L1 ball and the box
    if mip.attacked.any():
        xa = mip.x_adv[mip.attacked]
        assert (net(xa).argmax(1) != y[mip.attacked]).all()
        assert ((xa - x[mip.attacked]).abs().flatten(1).sum(1) <= 0.6 + 1e-5).all()
    assert int(mip.attacked.sum()) >= int(adv.success.sum())
    assert int(mip.certified.sum()) >= int(crown.certified.sum())


def test_l2_is_refused_with_the_reason() -> None:
    net = _linear(1)
    x = torch.rand(2, 1, 12)
    with pytest.raises(ValueError, match="second-order-cone"):
        advkit.certify(net, x, net(x).argmax(1), advkit.L2(0.1), advkit.MIP())
    with pytest.raises(ValueError, match="norm"):
        mip_min_distance(net, x, net(x).argmax(1), 0.1, norm="l2")  # type: ignore[arg-type]
