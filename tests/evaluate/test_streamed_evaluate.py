"""An evaluation read from a dataset a batch at a time: the same result as from tensors,
never more than a batch of samples read at once, and one store for both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import advkit
from advkit import APGD
from advkit.data import load_dataset
from advkit.data.open import open_dataset
from advkit.data.samples import Rows, Samples
from advkit.evaluate.report import Evaluation
from advkit.evaluate.sandwich import sandwich
from advkit.evaluate.verify import verify_evaluation
from linear_digits import linear_digits

pytestmark = pytest.mark.usefixtures("single_thread")

SUITE: list[tuple[str, Any]] = [("apgd-ce", APGD(steps=5))]
THREAT = advkit.Linf(0.1)
N, BATCH = 100, 16
LIMIT = 64  # the gradient-masking checks' first samples, read together


class Counted(Samples):
    """Samples that remember how many rows each read asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[int] = []

    def take(self, rows: Rows) -> tuple[Tensor, Tensor]:
        x, y = super().take(rows)
        self.reads.append(len(x))
        return x, y


def run(data: tuple[Tensor, Tensor] | Samples, **kw: Any) -> Evaluation:
    return advkit.evaluate(
        linear_digits(),
        data,
        THREAT,
        SUITE,
        eps_curve=[0.05],
        batch_size=BATCH,
        progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def tensors() -> tuple[Tensor, Tensor]:
    return load_dataset("digits", split="test", limit=N)


@pytest.fixture(scope="module")
def whole(tensors: tuple[Tensor, Tensor]) -> Evaluation:
    return run(tensors)


def test_a_streamed_evaluation_equals_the_one_on_tensors(whole: Evaluation) -> None:
    data = Counted(open_dataset("digits", "test"), N)
    ev = run(data)
    assert ev.samples == whole.samples and ev.curve == whole.curve
    assert 0 < ev.robust_accuracy < ev.clean_accuracy  # some broken, some robust
    assert [f.to_dict() for f in ev.masking] == [f.to_dict() for f in whole.masking]
    assert ev.examples.keys() == whole.examples.keys()
    for i, ex in ev.examples.items():
        assert (ex.attack, ex.distance, ex.eps) == (
            whole.examples[i].attack,
            whole.examples[i].distance,
            whole.examples[i].eps,
        )
        assert torch.equal(ex.x_adv, whole.examples[i].x_adv)
    assert data.reads and max(data.reads) <= max(BATCH, LIMIT) < N  # never all at once


def test_the_sandwich_and_the_re_check_read_a_batch_at_a_time(
    whole: Evaluation, tensors: tuple[Tensor, Tensor]
) -> None:
    data = Counted(open_dataset("digits", "test"), N)
    check = verify_evaluation(linear_digits(), data, THREAT, whole, batch_size=BATCH)
    assert check.ok and check.examples == len(whole.examples) > 0
    assert max(data.reads) <= BATCH
    data.reads.clear()
    streamed = sandwich(whole, linear_digits(), data, THREAT, advkit.CROWN(), batch_size=4)
    assert max(data.reads) <= 4 * 16  # the sandwich certifies 16 batches per call
    again = sandwich(whole, linear_digits(), tensors, THREAT, advkit.CROWN())
    assert [r.status for r in streamed] == [r.status for r in again]
    assert {s for r in streamed for s in r.status} == {"certified", "attacked", "unknown"}


def test_a_store_written_from_tensors_resumes_from_the_dataset(
    whole: Evaluation, tensors: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    store = tmp_path / "run.sqlite"
    first = run(tensors, store=store, checks=False)
    data = Counted(open_dataset("digits", "test"), N)
    resumed = run(data, store=store, checks=False)
    assert resumed.samples == first.samples == whole.samples
    assert resumed.examples.keys() == first.examples.keys()
    # only the checking pass read the data: every batch came back from the store
    assert sum(data.reads) == N


def test_without_examples_the_records_stay_and_nothing_is_kept(whole: Evaluation) -> None:
    ev = run(Samples(open_dataset("digits", "test"), N), keep_examples=False)
    assert ev.samples == whole.samples and ev.examples == {}


def test_bad_samples_name_their_batch() -> None:
    x, y = load_dataset("digits", split="test", limit=N)
    x[40, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf values \(samples \[40\]\).*samples 32-47"):
        run(Samples(_ListDataset(x, y)))


class _ListDataset(torch.utils.data.Dataset[tuple[Tensor, int]]):
    """A map-style dataset over tensors (what a user's own dataset looks like)."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[i], int(self.y[i])
