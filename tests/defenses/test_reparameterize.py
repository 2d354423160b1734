"""Reparameterization (Athalye et al. 2018, §4.3): a purifier with useless gradients falls
once the attack searches over z with x = h(z) on the purifier's fixed points."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

import advkit
from advkit.attacks.adaptive import BPDA
from advkit.attacks.reparameterize import Reparameterize
from advkit.defenses.transforms import FunctionTransform

pytestmark = pytest.mark.usefixtures("single_thread")


def blocks(z: Tensor) -> Tensor:
    """h: 2×2 block means, differentiable; its range is the block-constant images."""
    return F.interpolate(F.avg_pool2d(z, 2), scale_factor=2.0, mode="nearest")


def block_median(x: Tensor) -> Tensor:
    """g: non-overlapping 2×2 block medians; the identity on block-constant images."""
    n, c, h, w = x.shape
    b = (
        x.reshape(n, c, h // 2, 2, w // 2, 2)
        .permute(0, 1, 2, 4, 3, 5)
        .reshape(n, c, h // 2, w // 2, 4)
    )
    return F.interpolate(b.median(dim=-1).values, scale_factor=2.0, mode="nearest")


class Blocks(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return blocks(x)


@pytest.fixture
def setting() -> tuple[nn.Module, nn.Module, Tensor, Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    defended = nn.Sequential(FunctionTransform(block_median), net).eval()
    x = blocks(torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        y = defended(x).argmax(1)
    return net, defended, x, y


def test_g_is_the_identity_on_the_range_of_h() -> None:
    z = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(block_median(blocks(z)), blocks(z))


def test_reparameterization_breaks_what_plain_pgd_cannot(
    setting: tuple[nn.Module, nn.Module, Tensor, Tensor],
) -> None:
    net, defended, x, y = setting
    threat = advkit.Linf(0.1)
    plain = advkit.attack(defended, x, y, threat, advkit.PGD(steps=20))
    reparam = advkit.attack(defended, x, y, threat, Reparameterize(advkit.PGD(steps=20), blocks))
    # the same attack on the differentiable equivalent f∘h: what the defense really offers
    reference = advkit.attack(
        nn.Sequential(Blocks(), net).eval(), x, y, threat, advkit.PGD(steps=20)
    )
    assert reference.success.float().mean() >= 0.5  # measured 0.625: the setting is breakable
    assert reparam.success.float().mean() >= reference.success.float().mean() - 0.05
    assert plain.success.float().mean() <= 0.5 * reparam.success.float().mean()  # 0.03
    # BPDA alone (identity through g, searching over x) reaches less here (measured 0.375)
    bpda = advkit.attack(defended, x, y, threat, BPDA(advkit.PGD(steps=20)))
    assert reparam.success.float().mean() > bpda.success.float().mean()
    # honest results: judged on the defended model, inside the ball, on g's fixed points
    with torch.no_grad():
        assert torch.equal(defended(reparam.x_adv).argmax(1) != y, reparam.success)
    assert (reparam.distance <= 0.1 + 1e-6).all()
    torch.testing.assert_close(blocks(reparam.x_adv), reparam.x_adv)
    assert (reparam.gradient_calls > 0).all() and (reparam.gradient_calls <= 3 * 21).all()


def test_score_attacks_and_traits_pass_through(
    setting: tuple[nn.Module, nn.Module, Tensor, Tensor],
) -> None:
    _, defended, x, y = setting
    attack = Reparameterize(advkit.Square(queries=300), blocks)
    res = advkit.attack(advkit.ScoreOnly(defended, budget=300), x, y, advkit.Linf(0.1), attack)
    assert res.success.any() and (res.queries <= 300).all()
    assert (res.gradient_calls == 0).all()
    assert Reparameterize(advkit.CW(), blocks).describe().minimal is True
