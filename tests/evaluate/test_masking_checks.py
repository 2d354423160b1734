"""Each gradient-masking check alone: a flag on its symptom, None otherwise."""

from __future__ import annotations

import torch
from torch import nn

import advkit
from advkit.data.samples import Samples
from advkit.evaluate.sanity import (
    EXPLODING,
    Probe,
    check_exploding_gradients,
    check_flat_curve,
    check_nan_gradients,
    check_noise,
    check_nondeterministic,
    check_probabilities,
    check_single_step,
    check_unbounded,
    check_zero_gradients,
)


def test_output_checks() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -2.0]])
    assert check_probabilities(logits) is None
    probs = check_probabilities(logits.softmax(1))
    assert probs is not None and "probabilities" in probs.message
    logp = check_probabilities(logits.log_softmax(1))
    assert logp is not None and "log-probabilities" in logp.message
    assert check_nondeterministic(logits, logits.clone(), declared=False) is None
    moved = logits + 1e-3
    flag = check_nondeterministic(logits, moved, declared=False)
    assert flag is not None and flag.check == "nondeterministic"
    assert check_nondeterministic(logits, moved, declared=True) is None


def test_gradient_checks() -> None:
    healthy = torch.ones(10, 4)
    for check in (check_nan_gradients, check_exploding_gradients):
        assert check(healthy) is None
    assert check_zero_gradients(healthy, bpda_available=False) is None
    bad = healthy.clone()
    bad[0, 0] = float("nan")
    bad[1] = 0.0
    bad[2] = 0.0
    bad[3] = EXPLODING
    nan = check_nan_gradients(bad)
    assert nan is not None and nan.message.startswith("1/10")
    zero = check_zero_gradients(bad, bpda_available=True)
    assert zero is not None and zero.message.startswith("2/10")
    assert "adaptive=True" in zero.remedy
    other = check_zero_gradients(bad, bpda_available=False)
    assert other is not None and "FunctionTransform" in other.remedy
    big = check_exploding_gradients(bad)
    assert big is not None and big.message.startswith("1/10")
    one_zero = healthy.clone()
    one_zero[0] = 0.0  # 1 of 10 is not over 10%
    assert check_zero_gradients(one_zero, bpda_available=False) is None
    empty = torch.zeros(0, 4)
    assert check_nan_gradients(empty) is None
    assert check_zero_gradients(empty, bpda_available=False) is None


def test_flat_curve_check() -> None:
    assert check_flat_curve(None) is None
    assert check_flat_curve([(0.1, 0.5)]) is None
    assert check_flat_curve([(0.1, 0.5), (0.3, 0.2)]) is None
    assert check_flat_curve([(0.1, 0.5), (0.15, 0.5)]) is None  # ε not doubled
    flag = check_flat_curve([(0.1, 0.5), (0.2, 0.5), (0.4, 0.5)])
    assert flag is not None and "50.0%" in flag.message


def test_attack_checks_report_the_samples_they_break() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x = torch.rand(8, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    rows = torch.arange(8)
    strong = Probe(model, Samples.of((x, y)), advkit.Linf(1.0))
    single = check_single_step(strong, rows)
    assert single is not None and single.samples and len(single.distances) == len(single.samples)
    fgsm = advkit.attack(model, x, y, advkit.Linf(1.0), advkit.FGM())
    assert list(single.samples) == fgsm.success.nonzero().squeeze(1).tolist()
    assert check_unbounded(strong, rows) is None  # a linear model is broken everywhere
    tiny = Probe(model, Samples.of((x, y)), advkit.Linf(1e-6))
    assert check_single_step(tiny, rows) is None
    assert check_noise(tiny, rows) is None
    assert check_single_step(tiny, rows[:0]) is None
    assert check_unbounded(tiny, rows[:0]) is None
