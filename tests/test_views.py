"""Model views (advkit.access.views): each keeps the access level and the caller's counters,
composes with the others, and survives ``fresh``; BPDA, EOT, reparameterization and the
detector guard compute what their papers define."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.access import (
    AccessError,
    BPDAView,
    EOTView,
    GuardedView,
    LabelOnly,
    Oracle,
    QueryBudgetExceeded,
    ReparameterizedView,
    ScoreOnly,
    View,
    WhiteBox,
    as_oracle,
)
from advkit.attacks.adaptive import EOT
from advkit.attacks.reparameterize import Reparameterize
from advkit.defenses.detectors import GradientNormDetector
from advkit.defenses.transforms import BitDepth
from advkit.objectives import CrossEntropy

pytestmark = pytest.mark.usefixtures("single_thread")

LEVELS = [LabelOnly, ScoreOnly, WhiteBox]


def linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()


def halve(z: Tensor) -> Tensor:
    return z / 2


class Scaled(nn.Module):
    """Random logits: ``linear(x) · s`` with s ~ U(0.5, 1.5) drawn per row from its own
    generator, so each draw of an EOT query differs."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = linear()
        self.generator = torch.Generator().manual_seed(0)

    def scales(self, n: int) -> Tensor:
        return 0.5 + torch.rand(n, 1, generator=self.generator)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x) * self.scales(x.shape[0])


class FirstLogit:
    """A loss linear in the logits: its input gradient is s · W[0] for one draw."""

    name = "first-logit"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return logits[:, 0]


def every_view() -> list[View]:
    det = GradientNormDetector(linear())
    det.threshold = 1.0
    return [BPDAView(), EOTView(3), ReparameterizedView(halve), GuardedView(det)]


@pytest.mark.parametrize("cls", LEVELS)
@pytest.mark.parametrize("view", every_view(), ids=lambda v: type(v).__name__)
def test_a_view_keeps_the_level_and_fresh_keeps_the_view(cls: type[Oracle], view: View) -> None:
    base = cls(linear(), budget=50).fresh(2)
    seen = base.through(view)
    assert type(seen) is cls and seen.level == base.level and seen.model is base.model
    assert seen.views == (view,) and base.views == ()
    again = as_oracle(seen, cls.level, 4)
    assert type(again) is cls and again.views == (view,) and again.budget == 50
    assert again.queries.tolist() == [0] * 4 and again.gradient_calls.tolist() == [0] * 4
    assert seen.queries.tolist() == [0, 0]


@pytest.mark.parametrize("cls", LEVELS)
def test_queries_through_a_view_count_on_the_caller_and_respect_its_budget(
    cls: type[Oracle],
) -> None:
    base = cls(linear(), budget=7).fresh(3)
    seen = base.through(ReparameterizedView(halve)).through(EOTView(3))
    x, rows = torch.rand(2, 1, 4, 4), torch.tensor([0, 2])
    assert isinstance(seen, LabelOnly)
    seen.labels(x, rows)
    assert base.queries.tolist() == [3, 0, 3]
    assert seen.remaining(rows).tolist() == [1, 1] and base.remaining(rows).tolist() == [4, 4]
    seen.labels(x, rows)
    with pytest.raises(QueryBudgetExceeded):
        seen.labels(x, rows)


def test_eot_averages_what_each_level_exposes_and_counts_every_draw() -> None:
    model = Scaled().eval()
    x, rows = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    # the draws of one query are one batch, draw-major (draw d of sample i is row 2d + i)
    draws = model(x.repeat(4, 1, 1, 1)).detach().reshape(4, 2, 3)
    model.generator.manual_seed(0)
    probs = ScoreOnly(model).fresh(2).through(EOTView(4)).scores(x, rows)
    torch.testing.assert_close(probs, draws.softmax(2).mean(0))
    wb = WhiteBox(model).fresh(2)
    seen = wb.through(EOTView(4))
    model.generator.manual_seed(0)
    torch.testing.assert_close(seen.scores(x, rows), draws.mean(0))
    model.generator.manual_seed(0)
    assert torch.equal(seen.labels(x, rows), draws.mean(0).argmax(1))
    assert wb.queries.tolist() == [8, 8] and wb.gradient_calls.tolist() == [0, 0]


def test_eot_loss_and_gradient_are_the_averages_over_the_draws() -> None:
    model = Scaled().eval()
    x, y, rows = torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), torch.tensor([0, 1])
    s = model.scales(6).reshape(3, 2)  # the scales the oracle's batch of 3 draws will get
    model.generator.manual_seed(0)
    wb = WhiteBox(model).fresh(2)
    logits, loss, grad = wb.through(EOTView(3)).value_and_grad(x, y, None, FirstLogit(), rows)
    plain = model.lin(x).detach()
    torch.testing.assert_close(logits, plain * s.mean(0)[:, None])
    torch.testing.assert_close(loss, plain[:, 0] * s.mean(0))
    w0 = model.lin[1].weight[0].detach().reshape(1, 1, 4, 4)
    torch.testing.assert_close(grad, s.mean(0).reshape(2, 1, 1, 1) * w0)
    assert wb.queries.tolist() == [3, 3] and wb.gradient_calls.tolist() == [3, 3]


def test_reparameterized_view_evaluates_and_differentiates_through_h() -> None:
    model = linear()
    x, y, rows = torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), torch.tensor([0, 1])
    seen = WhiteBox(model).fresh(2).through(ReparameterizedView(halve))
    torch.testing.assert_close(seen.logits(x, rows), model(x / 2).detach())
    _, _, grad = seen.value_and_grad(x, y, None, CrossEntropy(), rows)
    xg = x.clone().requires_grad_(True)
    CrossEntropy()(model(xg / 2), y, None).sum().backward()
    assert xg.grad is not None
    torch.testing.assert_close(grad, xg.grad)


def test_bpda_view_crosses_non_differentiable_layers_only_inside_the_view() -> None:
    model = nn.Sequential(BitDepth(2), linear()).eval()
    x, y, rows = torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), torch.tensor([0, 1])
    plain = WhiteBox(model).fresh(2)
    _, _, masked = plain.value_and_grad(x, y, None, CrossEntropy(), rows)
    assert float(masked.abs().sum()) == 0.0
    _, _, crossed = plain.through(BPDAView()).value_and_grad(x, y, None, CrossEntropy(), rows)
    # the identity approximation: the network's gradient at the quantized input
    xq = model[0](x).detach().requires_grad_(True)
    CrossEntropy()(model[1](xq), y, None).sum().backward()
    assert xq.grad is not None
    torch.testing.assert_close(crossed, xq.grad)
    _, _, after = plain.value_and_grad(x, y, None, CrossEntropy(), rows)
    assert float(after.abs().sum()) == 0.0  # no switch left on
    assert plain.gradient_calls.tolist() == [3, 3]


def test_guarded_view_appends_the_detectors_log_score_ratio() -> None:
    model = linear()
    det = GradientNormDetector(model)
    det.calibrate(torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(3)))
    x, rows = torch.rand(3, 1, 4, 4), torch.arange(3)
    out = WhiteBox(model).fresh(3).through(GuardedView(det)).logits(x, rows)
    assert out.shape == (3, 4)
    torch.testing.assert_close(out[:, :3], model(x).detach())
    ratio = torch.log(det.scores(x) / det.threshold)
    torch.testing.assert_close(out[:, 3], ratio)
    assert torch.equal(out[:, 3] > 0, det.detect(x))


def test_views_compose_through_oracles() -> None:
    model = Scaled().eval()
    x, rows = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    expected = model(halve(x).repeat(2, 1, 1, 1)).detach().reshape(2, 2, 3).mean(0)
    for views in [
        (ReparameterizedView(halve), EOTView(2)),
        (EOTView(2), ReparameterizedView(halve)),
    ]:
        oracle = WhiteBox(model).fresh(2)
        for view in views:
            oracle = oracle.through(view)
        model.generator.manual_seed(0)
        torch.testing.assert_close(oracle.logits(x, rows), expected)


@pytest.mark.parametrize(
    "method",
    [
        Reparameterize(EOT(advkit.PGD(steps=3), samples=2), halve),
        EOT(Reparameterize(advkit.PGD(steps=3), halve), samples=2),
    ],
    ids=["reparam-eot", "eot-reparam"],
)
def test_attack_wrappers_compose(method: Reparameterize | EOT) -> None:
    """On a deterministic model, two draws average to the single draw exactly: EOT around
    or inside Reparameterize finds what Reparameterize alone finds, at twice the cost."""
    model = linear()
    x = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2, 0])
    alone = advkit.attack(model, x, y, advkit.Linf(0.2), Reparameterize(advkit.PGD(steps=3), halve))
    both = advkit.attack(model, x, y, advkit.Linf(0.2), method)
    assert torch.equal(both.x_adv, alone.x_adv)
    assert torch.equal(both.gradient_calls, 2 * alone.gradient_calls)
    assert bool((alone.gradient_calls > 0).any())


def test_eot_refuses_label_only_access_and_a_view_rejects_a_poorer_attack() -> None:
    with pytest.raises(TypeError, match="EOT needs"):
        advkit.attack(
            LabelOnly(linear()),
            torch.rand(2, 1, 4, 4),
            torch.tensor([0, 1]),
            advkit.L2(math.inf),
            EOT(advkit.HopSkipJump(queries=10)),
        )
    with pytest.raises(AccessError):
        as_oracle(LabelOnly(linear()).through(EOTView(2)), WhiteBox.level, 2)
    with pytest.raises(ValueError, match="samples"):
        EOTView(0)
