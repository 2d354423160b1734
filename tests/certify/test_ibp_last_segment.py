"""IBP's last affine segment reads the output interval of the nonlinear node it stops at:
a max pooling of negative values stays negative (it is not clamped like a ReLU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import advkit
from advkit.certify import margin_lower_bounds


def _pool_head() -> nn.Module:
    """conv x − 1 (negative on [0, 1]), max pooling, then z = (pool + 1.7, −pool)."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.fill_(-1.0)
        net[3].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[3].bias.copy_(torch.tensor([1.7, 0.0]))
    return net.eval()


def test_ibp_does_not_certify_a_max_pooling_head_an_attack_breaks() -> None:
    net = _pool_head()
    x, y = torch.full((1, 1, 2, 2), 0.2), torch.tensor([0])
    flipped = torch.full((1, 1, 2, 2), 0.1)  # inside Linf(0.1): margin 2·(−0.9) + 1.7 < 0
    assert net(x).argmax(1).item() == 0 and net(flipped).argmax(1).item() == 1
    res = advkit.certify(net, x, y, advkit.Linf(0.1), advkit.IBP())
    assert not res.certified.any()
    assert res.class_lower[0, 1].item() == pytest.approx(-0.1, abs=1e-5)
    bound = margin_lower_bounds(net, x, y, advkit.Linf(0.1))
    assert bound[0, 1].item() <= -0.1 + 1e-6
