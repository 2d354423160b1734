"""The named suites follow AutoAttack's versions: their attack lists, order and options,
the L1 settings, EOT for ``rand``, the norms each is defined for, and the cascade
attacking only unbroken samples."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import advkit
from advkit import APGD, APGDT, DLR, FAB, FABT, L1, L2, CrossEntropy, Linf, Square
from advkit.attacks import apgd
from advkit.attacks.adaptive import BPDA, EOT, adapt
from advkit.defenses.transforms import BitDepth
from advkit.evaluate.suites import get_suite
from advkit.traits import Traits

pytestmark = pytest.mark.usefixtures("single_thread")

SQUARE = Square(queries=5000, p_init=0.8, rescale=False)
"""AutoAttack's Square: ``SquareAttack(p_init=.8, n_queries=5000, n_restarts=1,
resc_schedule=False)``."""

AUTOATTACK: dict[str, list[tuple[str, Any]]] = {
    "standard": [
        ("apgd-ce", APGD(steps=100, restarts=1)),
        ("apgd-t", APGDT(steps=100, target_classes=9, restarts=1)),
        ("fab-t", FABT(steps=100, target_classes=9, restarts=1)),
        ("square", SQUARE),
    ],
    "plus": [
        ("apgd-ce", APGD(steps=100, restarts=5)),
        ("apgd-dlr", APGD(steps=100, restarts=5, loss=DLR())),
        ("fab", FAB(steps=100, restarts=5)),
        ("square", SQUARE),
        ("apgd-t", APGDT(steps=100, target_classes=9, restarts=1)),
        ("fab-t", FABT(steps=100, target_classes=9, restarts=1)),
    ],
    "rand": [
        ("apgd-ce", EOT(APGD(steps=100, restarts=1, loss=CrossEntropy()), samples=20)),
        ("apgd-dlr", EOT(APGD(steps=100, restarts=1, loss=DLR()), samples=20)),
    ],
}
"""AutoAttack's versions as pyautoattack 0.2.0 sets them (``AutoAttack._set_version`` and
the defaults of its attack classes), L∞ and L2: the attacks in order, with their options."""

ADVKIT: dict[str, list[tuple[str, Any]]] = {
    "quick": [("apgd-ce", APGD(steps=100)), ("apgd-t", APGDT(steps=100, target_classes=3))],
    "fast": [("apgd-ce", APGD(steps=100))],
}
"""advkit's own cheaper cascades."""


@pytest.mark.parametrize("name", [*AUTOATTACK, *ADVKIT])
def test_named_suites_are_autoattacks_versions_and_advkits_cheap_ones(name: str) -> None:
    for norm in ("linf", "l2", None):
        assert get_suite(name, norm) == {**AUTOATTACK, **ADVKIT}[name]


def test_the_attacks_keep_the_reference_defaults() -> None:
    """APGD's ρ and momentum 0.75 and 100 steps; APGD-T's and FAB-T's 9 classes; FAB's
    α_max 0.1, η 1.05, β 0.9 and 100 steps; Square's 5000 queries at p_init 0.8."""
    assert (apgd.RHO, apgd.MOMENTUM) == (0.75, 0.75)
    assert (APGD().steps, APGD().restarts, APGDT().target_classes) == (100, 1, 9)
    for fab in (FAB(), FABT()):
        assert (fab.steps, fab.alpha_max, fab.eta, fab.beta, fab.restarts) == (
            100,
            0.1,
            1.05,
            0.9,
            1,
        )
    assert FABT().target_classes == 9
    assert (Square().queries, Square().p_init) == (5000, 0.8)


def test_square_runs_on_autoattacks_unscaled_schedule() -> None:
    """The fraction of changed pixels, as the reference's ``p_selection`` gives it: halved
    after iterations 10, 50, 200, 500, 1000, 2000 and 4000 of 5000 (not rescaled)."""
    reference = {0: 0.8, 10: 0.8, 11: 0.4, 51: 0.2, 201: 0.1, 501: 0.05}
    reference |= {1001: 0.025, 2001: 0.0125, 4001: 0.00625, 4999: 0.00625}
    for it, p in reference.items():
        assert SQUARE.fraction(it) == pytest.approx(p), it
    assert Square().fraction(2001) == pytest.approx(0.8 / 2**7)  # rescaled: 4002 of 10000


def test_standard_at_l1_takes_autoattacks_l1_settings() -> None:
    """APGD-CE with 5 restarts, APGD-T on 5 classes, both with large reps, FAB-T on 9,
    then Square at L1 with AutoAttack's 5000 queries."""
    assert get_suite("standard", "l1") == [
        ("apgd-ce", APGD(steps=100, restarts=5, large_reps=True)),
        ("apgd-t", APGDT(steps=100, target_classes=5, restarts=1, large_reps=True)),
        ("fab-t", FABT(steps=100, target_classes=9, restarts=1)),
        ("square", SQUARE),
    ]
    assert get_suite("rand", "l1") == AUTOATTACK["rand"]


@pytest.mark.parametrize(
    ("suite", "norm"), [("plus", "l1"), ("standard", "l0"), ("plus", "l0"), ("rand", "l0")]
)
def test_a_suite_at_a_norm_it_is_not_defined_for_is_refused(suite: str, norm: str) -> None:
    with pytest.raises(ValueError, match=f"suite '{suite}' is defined for .*, not {norm}") as e:
        get_suite(suite, norm)
    assert "choose one of" in str(e.value) and "'fast'" in str(e.value)


def test_an_unknown_suite_is_refused_with_the_names() -> None:
    with pytest.raises(ValueError, match=r"unknown suite 'autoattack'; choose one of .*'plus'"):
        get_suite("autoattack")


def test_evaluate_refuses_plus_at_l1_before_any_attack() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()
    x, y = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="'plus' is defined for linf, l2 threats, not l1"):
        advkit.evaluate(model, (x, y), L1(1.0), "plus", progress=False)


def test_few_classes_drop_the_dlr_attacks_but_keep_fab_t() -> None:
    """APGD-T's targeted DLR needs 4 classes, APGD-DLR's DLR 3; FAB and Square need 2."""
    assert [n for n, _ in get_suite("standard", "linf", classes=3)] == [
        "apgd-ce",
        "fab-t",
        "square",
    ]
    assert [n for n, _ in get_suite("plus", "linf", classes=3)] == [
        "apgd-ce",
        "apgd-dlr",
        "fab",
        "square",
        "fab-t",
    ]
    assert get_suite("rand", "linf", classes=2) == AUTOATTACK["rand"][:1]


class Noisy(Traits, nn.Module):
    """A random layer: Gaussian noise on the input."""

    random = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.01 * torch.randn_like(x)


def test_rand_keeps_its_draws_when_evaluate_adapts_the_attacks() -> None:
    """``evaluate`` wraps attacks in EOT for a random model: the rand suite's attacks keep
    their 20 draws (not 20 × 20), with BPDA inside where the model needs it."""
    (_, method), _ = get_suite("rand")
    assert isinstance(method, EOT)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    assert adapt(flat, method) == method
    assert adapt(nn.Sequential(Noisy(), flat), method) == method
    quantized = nn.Sequential(Noisy(), BitDepth(3), flat)
    assert adapt(quantized, method) == EOT(BPDA(method.attack), samples=20)
    plain = APGD(steps=5)
    assert adapt(nn.Sequential(Noisy(), flat), plain, 7) == EOT(plain, samples=7)


def test_the_cascade_runs_fab_only_on_samples_the_earlier_attacks_left_robust() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()
    x = torch.rand(24, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    suite = [("apgd-ce", APGD(steps=1)), ("fab-t", FABT(steps=4, target_classes=2))]
    for threat in (L2(0.15), L1(0.6), Linf(0.05)):
        ev = advkit.evaluate(model, (x, y), threat, suite, progress=False, checks=False)
        records = ev.samples[ev.eps]
        by = [r.broken_by for r in records]
        assert "apgd-ce" in by and "fab-t" in by, threat
        for r in records:
            if r.broken_by == "apgd-ce":  # FAB-T never saw it: APGD's calls only
                assert r.gradient_calls <= 2
            else:  # APGD's 2 calls, then FAB-T's: one per step until broken, ≤ 2 × 4
                assert 2 < r.gradient_calls <= 2 + 2 * 4
            if r.broken_by is None:
                assert r.gradient_calls == 2 + 2 * 4
        fab_t = advkit.attack(model, x, y, threat, suite[1][1])
        broken = torch.tensor([b is not None for b in by])
        assert bool((broken | ~fab_t.success).all())  # the worst case over both attacks
