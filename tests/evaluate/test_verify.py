"""The independent re-check of kept examples: in the ball and the box, misclassified, and
the robust accuracy at every ε recomputed from them alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import Tensor

import advkit
from advkit import APGD
from advkit.data import load_dataset
from advkit.evaluate.report import Evaluation
from advkit.evaluate.verify import verify_evaluation
from linear_digits import linear_digits

pytestmark = pytest.mark.usefixtures("single_thread")

SUITE: list[tuple[str, Any]] = [("apgd-ce", APGD(steps=5))]
THREAT = advkit.Linf(0.1)


@pytest.fixture(scope="module")
def data() -> tuple[Tensor, Tensor]:
    return load_dataset("digits", split="test", limit=40)


@pytest.fixture(scope="module")
def honest(data: tuple[Tensor, Tensor]) -> Evaluation:
    return advkit.evaluate(
        linear_digits(), data, THREAT, SUITE, eps_curve=[0.05], batch_size=16, progress=False
    )


def with_example(ev: Evaluation, index: int, x_adv: Tensor) -> Evaluation:
    examples = dict(ev.examples)
    examples[index] = replace(examples[index], x_adv=x_adv)
    return replace(ev, examples=examples)


def test_an_honest_evaluation_verifies(data: tuple[Tensor, Tensor], honest: Evaluation) -> None:
    check = verify_evaluation(linear_digits(), data, THREAT, honest)
    assert check.ok, check.table()
    assert check.examples == len(honest.examples) > 0
    assert [(row.eps, row.reported) for row in check.curve] == honest.curve
    assert all(row.recomputed == row.reported for row in check.curve)
    assert check.clean_accuracy == honest.clean_accuracy
    assert "agree" in check.table()


def test_an_example_outside_the_ball_is_caught(
    data: tuple[Tensor, Tensor], honest: Evaluation
) -> None:
    i = min(i for i, ex in honest.examples.items() if ex.eps == THREAT.eps)
    x0 = data[0][i]
    far = x0 + (honest.examples[i].x_adv - x0) * 1.5  # same direction, half again as far
    check = verify_evaluation(linear_digits(), data, THREAT, with_example(honest, i, far))
    assert not check.ok and check.samples == (i,)
    assert "outside the ε-ball" in check.disagreements[0].reason
    assert any(row.recomputed != row.reported for row in check.curve)


def test_an_example_the_model_classifies_correctly_is_caught(
    data: tuple[Tensor, Tensor], honest: Evaluation
) -> None:
    i = min(honest.examples)
    check = verify_evaluation(linear_digits(), data, THREAT, with_example(honest, i, data[0][i]))
    assert not check.ok and check.samples == (i,)
    assert "classifies it correctly" in check.disagreements[0].reason


def test_an_example_outside_the_box_is_caught(
    data: tuple[Tensor, Tensor], honest: Evaluation
) -> None:
    i = min(honest.examples)
    outside = honest.examples[i].x_adv.clone()
    outside.view(-1)[0] = -0.05  # also within 0.1 of a 0 pixel: only the box is broken
    assert float(data[0][i].view(-1)[0]) == 0.0
    check = verify_evaluation(linear_digits(), data, THREAT, with_example(honest, i, outside))
    assert not check.ok and check.samples == (i,)
    assert "outside the box" in check.disagreements[0].reason


def test_a_missing_example_is_caught(data: tuple[Tensor, Tensor], honest: Evaluation) -> None:
    i = max(honest.examples)
    examples = {k: v for k, v in honest.examples.items() if k != i}
    check = verify_evaluation(linear_digits(), data, THREAT, replace(honest, examples=examples))
    assert not check.ok and check.samples == (i,)
    assert "no adversarial example" in check.disagreements[0].reason


def test_records_the_examples_contradict_are_caught(
    data: tuple[Tensor, Tensor], honest: Evaluation
) -> None:
    """Robust accuracy is recomputed from the examples alone: a sample the records call
    broken at an ε below its example's distance, or robust at an ε its example breaks it
    at, is a disagreement at that ε."""
    far = min(i for i, ex in honest.examples.items() if ex.distance > 0.05)
    near = min(i for i, ex in honest.examples.items() if ex.eps == 0.05)
    samples = dict(honest.samples)
    samples[0.05] = [r.broken("apgd-ce", 0.05) if r.index == far else r for r in samples[0.05]]
    start = next(r for r in samples[0.05] if r.index == near)
    robust = replace(start, robust=True, broken_by=None, distance=None)
    samples[0.1] = [robust if r.index == near else r for r in samples[0.1]]
    check = verify_evaluation(linear_digits(), data, THREAT, replace(honest, samples=samples))
    assert not check.ok and check.samples == tuple(sorted((far, near)))
    found = {(d.index, d.eps) for d in check.disagreements}
    assert found == {(far, 0.05), (near, 0.1)}


def test_another_model_disagrees_on_every_sample(
    data: tuple[Tensor, Tensor], honest: Evaluation
) -> None:
    other = linear_digits()
    with torch.no_grad():  # class k's scores become class k+1's
        other[1].weight.copy_(other[1].weight.roll(1, dims=0))
        other[1].bias.copy_(other[1].bias.roll(1))
    check = verify_evaluation(other, data, THREAT, honest)
    assert not check.ok and check.clean_accuracy < honest.clean_accuracy
    assert len(check.samples) > len(data[1]) // 2


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
@pytest.mark.parametrize("threat", [advkit.Linf(0.1), advkit.L2(0.5), advkit.L1(2.0)])
def test_examples_verify_in_every_norm_and_precision(
    data: tuple[Tensor, Tensor], dtype: torch.dtype, threat: advkit.ThreatModel
) -> None:
    """The rounding slack admits what the attacks return (bf16 points rounded toward x,
    float64 ones), in every norm of the suites."""
    model = linear_digits().to(dtype)
    ev = advkit.evaluate(model, data, threat, SUITE, eps_curve=[threat.eps / 2], progress=False)
    check = verify_evaluation(model, data, threat, ev)
    assert check.ok, check.failure()
    assert check.examples > 0 and all(ex.x_adv.dtype == dtype for ex in ev.examples.values())
