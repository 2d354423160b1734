"""Evaluation never reports more robustness than its attacks showed: curves stay monotone
across resumed stores, examples found by the masking checks count, few-class models work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.access import Access, ScoreOnly
from advkit.attacks.adaptive import BPDA, EOT
from advkit.attacks.noise import RandomNoise
from advkit.engine import Attack, AttackInfo, Problem

pytestmark = pytest.mark.usefixtures("single_thread")


class FirstPixel(nn.Module):
    """Class 0 while pixel 0 exceeds 0.52, class 1 below: logits (s, −s), s = x₀ − 0.52."""

    def forward(self, x: Tensor) -> Tensor:
        s = x.reshape(x.shape[0], -1)[:, :1] - 0.52
        return torch.cat([s, -s], dim=1)


@dataclass(frozen=True)
class SmallEpsOnly(Attack):
    """Lowers pixel 0 by ε, but only when ε < 0.08: an attack that gets *weaker* as ε grows,
    as a run with other ε values or a flaky attack can look from the store's side."""

    info = AttackInfo("small-eps-only", "weaker as ε grows", Access.LABELS)

    def run(self, problem: Problem) -> Tensor:
        x = problem.x0.clone()
        eps = float(problem.threat.radius(x).reshape(x.shape[0], -1)[0, 0])
        if eps < 0.08:
            x.reshape(x.shape[0], -1)[:, 0] -= eps
        return x


@dataclass(frozen=True)
class Nothing(Attack):
    """Returns the clean inputs: the weakest suite there is."""

    info = AttackInfo("nothing", "the clean inputs", Access.LABELS)

    def run(self, problem: Problem) -> Tensor:
        return problem.x0.clone()


def _pixel_data(n: int = 6) -> tuple[Tensor, Tensor]:
    x = torch.full((n, 1, 2, 2), 0.5)
    x[:, 0, 0, 0] = 0.55  # class 0, flipped by lowering pixel 0 by 0.05
    return x, torch.zeros(n, dtype=torch.long)


def test_a_store_from_another_eps_list_still_gives_a_monotone_curve(tmp_path: Path) -> None:
    model, data = FirstPixel().eval(), _pixel_data()
    suite = [("small", SmallEpsOnly())]
    store = tmp_path / "run.sqlite"
    kw = {"progress": False, "checks": False, "store": store}
    first = advkit.evaluate(model, data, advkit.Linf(0.1), suite, **kw)
    assert first.robust_accuracy == 1.0  # the attack does nothing at ε = 0.1
    second = advkit.evaluate(model, data, advkit.Linf(0.1), suite, eps_curve=[0.05], **kw)
    curve = dict(second.curve)
    assert curve[0.05] == 0.0
    assert curve[0.1] == 0.0, "broken at ε = 0.05 means broken at ε = 0.1"
    assert second.robust_accuracy == 0.0
    rec = second.samples[0.1][0]
    assert rec.broken_by == "small" and rec.distance == pytest.approx(0.05)


def test_examples_found_by_the_masking_checks_count_as_broken() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x = torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = advkit.Linf(0.3)
    ev = advkit.evaluate(model, (x, y), threat, [("nothing", Nothing())], progress=False)
    fgsm = advkit.attack(model, x, y, threat, advkit.FGM())
    assert fgsm.success.any()
    by = [r.broken_by for r in ev.samples[0.3]]
    for i, broke in enumerate(fgsm.success.tolist()):
        if broke:
            assert by[i] == "check:single-step-stronger"
    assert ev.robust_accuracy <= 1.0 - float(fgsm.success.float().mean())
    flag = next(f for f in ev.masking if f.check == "single-step-stronger")
    assert sorted(flag.samples) == fgsm.success.nonzero().squeeze(1).tolist()


def test_the_standard_suite_runs_on_three_classes() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x = torch.rand(8, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    ev = advkit.evaluate(model, (x, y), advkit.Linf(0.5), "standard", progress=False)
    assert "apgd-t" not in ev.suite and ev.suite[0] == "apgd-ce"
    assert ev.robust_accuracy == 0.0  # ε = 0.5 moves any linear decision on [0, 1]^16


def test_wrappers_forward_the_attack_traits() -> None:
    cw = advkit.CW()
    assert BPDA(cw).describe().minimal is True and EOT(cw).describe().minimal is True
    sq = advkit.Square()
    assert EOT(sq).describe().norms == sq.describe().norms
    with pytest.raises(AttributeError):
        _ = BPDA(cw).nonexistent  # type: ignore[attr-defined]


class Noisy(nn.Module):
    """A random model: logits plus fresh noise on every call."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        out = self.lin(x.flatten(1))
        return out + 0.01 * torch.randn_like(out)


def test_eot_counts_every_draw_and_keeps_the_budget() -> None:
    torch.manual_seed(2)
    model = Noisy().eval()
    x = torch.rand(4, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 3])
    budget = 50
    attack = EOT(advkit.Square(queries=1000), samples=5)
    res = advkit.attack(ScoreOnly(model, budget=budget), x, y, advkit.Linf(0.01), attack)
    assert (res.queries > 0).all()
    assert (res.queries <= budget).all()
    assert (res.queries % 5 == 0).all(), "each averaged score costs 5 draws"


def test_random_noise_stops_at_the_query_budget() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10)).eval()
    x = torch.full((3, 1, 4, 4), 0.5)
    with torch.no_grad():
        y = model(x).argmax(1)
    res = advkit.attack(ScoreOnly(model, budget=7), x, y, advkit.Linf(1e-4), RandomNoise())
    assert not res.success.any()
    assert (res.queries == 7).all()


def test_the_sandwich_counts_verified_counterexamples_as_broken() -> None:
    from advkit.evaluate.sandwich import sandwich

    torch.manual_seed(2)  # a net whose decision varies over [0, 1]^4
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.rand(8, 1, 2, 2)
    with torch.no_grad():
        y = net(x).argmax(1)
    threat = advkit.Linf(0.1)
    weak = advkit.evaluate(
        net, (x, y), threat, [("nothing", Nothing())], progress=False, checks=False
    )
    assert weak.robust_accuracy == 1.0
    (row,) = sandwich(weak, net, (x, y), threat, advkit.MIP())
    assert row.attacked > 0, "measured: MIP finds 3 counterexamples"
    assert row.robust_accuracy == 1.0 - row.attacked / 8
    assert row.certified + row.attacked == 8  # MIP decides every sample
    with pytest.raises(ValueError, match="same"):
        sandwich(weak, net, (x[:4], y[:4]), threat, advkit.MIP())
