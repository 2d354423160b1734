"""Samples read by index a batch at a time: the same values as the whole tensors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from advkit.data import load_dataset
from advkit.data.open import open_dataset
from advkit.data.samples import Samples, open_samples
from advkit.evaluate.fingerprint import DigestStream, tensor_digest


def test_a_dataset_reads_the_same_values_as_load_dataset() -> None:
    x, y = load_dataset("digits", limit=70)
    data = open_samples("digits", n=70)
    got = list(data.batches(32))
    assert [list(rows) for rows, _, _ in got] == [
        list(range(0, 32)),
        list(range(32, 64)),
        list(range(64, 70)),
    ]
    assert torch.equal(torch.cat([b for _, b, _ in got]), x)
    assert torch.equal(torch.cat([b for _, _, b in got]), y)
    rows = [65, 3, 3]
    assert torch.equal(data.take(rows)[0], x[rows])
    assert torch.equal(data.take(torch.tensor(rows))[1], y[rows])


def test_a_pair_and_a_dataset_give_the_same_batches_of_chosen_rows() -> None:
    x, y = load_dataset("digits", limit=40)
    pair, streamed = Samples.of((x, y)), Samples(open_dataset("digits"), 40)
    rows = [39, 0, 17, 5, 22]
    for (ra, xa, ya), (rb, xb, yb) in zip(
        pair.batches(2, rows), streamed.batches(2, rows), strict=True
    ):
        assert list(ra) == list(rb) and torch.equal(xa, xb) and torch.equal(ya, yb)


def test_open_samples_keeps_a_split_shorter_than_n() -> None:
    assert len(open_samples("digits", n=10**6)) == len(open_dataset("digits"))


def test_bad_requests_are_clear_errors() -> None:
    x, y = torch.rand(4, 2), torch.arange(4)
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        Samples((x, y[:3]))
    with pytest.raises(ValueError, match=r"n must be in \[0, 4\]"):
        Samples((x, y), n=5)
    with pytest.raises(IndexError, match=r"sample index 4 is outside \[0, 2\)"):
        Samples((x, y), n=2).take([0, 4])
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        next(Samples((x, y)).batches(0))


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 9),
    size=st.integers(1, 10),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
)
def test_a_digest_fed_a_batch_at_a_time_equals_the_whole_tensors_digest(
    n: int, size: int, dtype: torch.dtype
) -> None:
    x = torch.rand(n, 3, 2, generator=torch.Generator().manual_seed(n)).to(dtype)
    y = torch.arange(n)
    digest = DigestStream()
    digest.begin(tuple(x.shape), x.dtype)
    for start in range(0, n, size):
        digest.add(x[start : start + size])
    digest.begin(tuple(y.shape), y.dtype)
    digest.add(y)
    assert digest.hexdigest() == tensor_digest(x, y)


class _Listed(torch.utils.data.Dataset[tuple[torch.Tensor, object]]):
    """A user's own dataset: whatever images and labels it was given."""

    def __init__(self, items: list[tuple[torch.Tensor, object]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, object]:
        return self.items[i]


def test_a_users_dataset_with_bad_samples_is_refused_by_name() -> None:
    good = (torch.zeros(1, 2, 2), 1)
    with pytest.raises(ValueError, match=r"sample 1 has the label 1\.5; labels must be integer"):
        Samples(_Listed([good, (torch.zeros(1, 2, 2), 1.5)])).take([0, 1])
    with pytest.raises(ValueError, match=r"sample 2 has shape \(1, 3, 3\), but sample 0"):
        Samples(_Listed([good, good, (torch.zeros(1, 3, 3), 0)])).take([0, 1, 2])
    x, y = Samples(_Listed([good, (torch.ones(1, 2, 2), torch.tensor(2))])).take([1, 0])
    assert y.tolist() == [2, 1] and x[0].sum() == 4


def test_taking_samples_under_another_default_device() -> None:
    data = open_samples("digits", n=5)
    with torch.device("meta"):
        x, _ = data.take([0, 1])
    assert x.device.type == "cpu" and torch.equal(x, load_dataset("digits", limit=2)[0])
