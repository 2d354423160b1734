"""Library policy the command line only calls: the adaptive re-run after masking flags,
attacks over a dataset in batches, the minimal-attack curve and the attack traits."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.evaluate.batched import Batches, concat_results
from advkit.evaluate.followup import DeclaredRandom, adaptive_rerun, adaptive_suite
from advkit.evaluate.minimal import evaluate_minimal
from advkit.evaluate.sanity import MaskingFlag
from advkit.traits import is_random

pytestmark = pytest.mark.usefixtures("single_thread")


def _linear(d: int = 16, k: int = 3) -> tuple[nn.Module, Tensor, Tensor]:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, k)).eval()
    x = torch.rand(10, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def test_adaptive_rerun_declares_randomness_without_touching_the_model() -> None:
    model = nn.Linear(4, 3)
    flags = [MaskingFlag("zero-gradients", "", "")]
    same, suite = adaptive_rerun(model, flags, "standard", "l1")
    assert same is model
    assert [name for name, _ in suite] == ["apgd-ce", "apgd-t", "fab-t", "square", "fgsm", "noise"]
    noisy = [*flags, MaskingFlag("nondeterministic", "", "")]
    wrapped, _ = adaptive_rerun(model, noisy, "fast", "linf")
    assert isinstance(wrapped, DeclaredRandom) and wrapped.model is model
    assert is_random(wrapped) and not is_random(model)
    x = torch.rand(2, 4)
    assert torch.equal(wrapped(x), model(x))
    custom = [("pgd", advkit.PGD(steps=3))]
    assert [name for name, _ in adaptive_suite(custom, "linf")] == ["pgd", "fgsm", "noise"]


def test_evaluating_the_declared_random_model_applies_eot() -> None:
    model, x, y = _linear()
    flags = [MaskingFlag("nondeterministic", "", "")]
    wrapped, suite = adaptive_rerun(model, flags, "fast", "linf")
    ev = advkit.evaluate(
        wrapped, (x, y), advkit.Linf(0.05), suite, progress=False, eot_samples=2, checks=False
    )
    assert ev.adaptive == "eot(2)"
    assert ev.suite == ["apgd-ce", "fgsm", "noise"]


def test_batches_give_the_result_of_one_call() -> None:
    model, x, y = _linear()
    threat = advkit.Linf(0.1)
    whole = advkit.attack(model, x, y, threat, advkit.PGD(steps=5), seed=2)
    parts = Batches(batch_size=3, seed=2).attack(model, x, y, threat, advkit.PGD(steps=5))
    for name in ("x_adv", "x", "y", "success", "distance", "queries", "gradient_calls"):
        assert torch.equal(getattr(parts, name), getattr(whole, name)), name
    assert parts.target is None and parts.config == whole.config
    assert torch.equal(Batches(batch_size=4).predict(model, x), y)
    with pytest.raises(ValueError, match="at least one"):
        concat_results([])
    with pytest.raises(ValueError, match="batch_size"):
        Batches(batch_size=0)


def test_target_cases_in_batches_match_one_call() -> None:
    from advkit.distortion import target_cases

    model, x, y = _linear()
    threat = advkit.L2(math.inf)
    whole = target_cases(model, x, y, threat, advkit.DeepFool(), num_classes=3, seed=1)
    parts = Batches(batch_size=4, seed=1).target_cases(model, x, y, threat, advkit.DeepFool())
    for case in ("best", "average", "worst"):
        a, b = getattr(parts, case), getattr(whole, case)
        assert torch.equal(a.target, b.target) and torch.equal(a.success, b.success), case
        assert torch.allclose(a.distance, b.distance), case


def test_minimal_evaluation_reads_the_curve_off_one_attack_result() -> None:
    model, x, y = _linear()
    threat = advkit.L2(0.5)
    rep = evaluate_minimal(
        model, (x, y), threat, advkit.DeepFool(), eps_curve=[0.05, 0.2], batch_size=4
    )
    res = advkit.attack(model, x, y, threat, advkit.DeepFool())
    assert [e for e, _ in rep.curve] == [0.05, 0.2, 0.5]  # the cap is a point of the curve
    for e, acc in rep.curve:
        assert acc == res.robust_accuracy(e)
    assert list(rep.success) == res.success.tolist()
    assert rep.clean_accuracy == 1.0 and rep.n == 10 and rep.name == "DeepFool"
    brief = rep.to_dict(with_samples=False)
    assert "minimal_distance" not in brief and len(rep.to_dict()["minimal_distance"]) == 10
    assert "robust accuracy ≤" in rep.table()
    with pytest.raises(ValueError, match="not a minimal-distortion attack"):
        evaluate_minimal(model, (x, y), threat, advkit.PGD())


def test_traits() -> None:
    assert advkit.CW().describe().minimal and not advkit.FGM().describe().minimal
    assert advkit.Square().describe().norms == ("linf", "l2", "l1")
    assert advkit.APGD().describe().norms == ("linf", "l2", "l1", "l0")
