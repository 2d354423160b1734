"""Attacks and evaluation on real data and published checkpoints (``../shared/data``).

These are the honesty checks: a natural model must fall, an adversarially trained model
must be ranked correctly by attack strength, and a certifiably robust model must never be
"broken" below its published certified accuracy (that would be a bug, not a finding).
"""

from __future__ import annotations

import pytest
import torch

import advkit
from advkit.data import load_dataset
from advkit.models import load_model
from conftest import require_shared

pytestmark = pytest.mark.slow


def _mnist(n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    shared = require_shared()
    return load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=n)


def _model(name: str) -> torch.nn.Module:
    require_shared()
    return load_model(name)


def test_natural_lenet5_falls_at_eps_03() -> None:
    """Naturally trained LeNet5: robust accuracy < 2% at L∞ ε=0.3 on 1000 test images."""
    x, y = _mnist(1000)
    ev = advkit.evaluate(_model("lenet5-natural"), (x, y), advkit.Linf(0.3), "fast", progress=False)
    assert ev.clean_accuracy > 0.98
    assert ev.robust_accuracy < 0.02


@pytest.mark.usefixtures("cheap_standard")
def test_pgd_trained_lenet5_strength_ordering() -> None:
    """Standard suite ≤ PGD-50 < FGSM on the PGD-trained LeNet5 (about 92% for PGD-50)."""
    x, y = _mnist(100)
    model = _model("lenet5-pgd")
    threat = advkit.Linf(0.3)
    correct = model(x).argmax(1) == y

    def robust(method: advkit.Attack) -> float:
        res = advkit.attack(model, x, y, threat, method)
        return float((correct & ~res.success).float().mean())

    fgsm = robust(advkit.FGM())
    pgd = robust(advkit.PGD(steps=50, restarts=1))
    ev = advkit.evaluate(model, (x, y), threat, "standard", progress=False)
    assert 0.85 <= pgd <= 0.97
    assert ev.robust_accuracy <= pgd
    assert pgd < fgsm
    nominal = (101 + 9 * 101 + 3 * 10) * len(y)  # APGD-CE, APGD-T, FAB-T (cheap_standard)
    assert ev.gradient_calls() < 0.95 * nominal


def test_certified_model_is_not_broken_below_its_certificate() -> None:
    """Wong & Kolter MNIST model, ε=0.1, full test set: certified accuracy is 94.2%.

    No sound attack can push robust accuracy below the certified accuracy; if one does,
    it returned an invalid adversarial example.
    """
    x, y = _mnist(None)
    model = _model("kw-mnist-0.1")
    ev = advkit.evaluate(model, (x, y), advkit.Linf(0.1), "fast", batch_size=1000, progress=False)
    assert ev.n == 10_000
    assert ev.robust_accuracy >= 0.942
    assert ev.robust_accuracy < ev.clean_accuracy  # the attack does find some examples
