"""Map-style datasets through a DataLoader: index order, shards, pinned memory, collect."""

from __future__ import annotations

import pytest
import torch

from advkit.data import collect, data_loader, load_dataset, open_dataset


def test_every_dataset_streams_as_load_dataset_returns_it():
    x, y = load_dataset("digits", "all")
    ds = open_dataset("digits", "all")
    assert len(ds) == len(y)  # type: ignore[arg-type]
    batches = list(data_loader(ds, batch_size=500))
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), x)
    assert torch.equal(torch.cat([b[1] for b in batches]), y)


def test_a_shard_is_the_samples_of_its_indices():
    ds = open_dataset("digits")
    (xs, ys), *_ = data_loader(ds, batch_size=10, indices=[5, 1, 598])
    x, y = load_dataset("digits")
    torch.testing.assert_close(xs, x[[5, 1, 598]])
    assert ys.tolist() == y[[5, 1, 598]].tolist()


def test_memory_is_pinned_for_cuda_only():
    ds = open_dataset("digits")
    assert data_loader(ds, device="cuda").pin_memory
    assert data_loader(ds, device="cuda:1").pin_memory
    assert not data_loader(ds, device="cpu").pin_memory
    assert not data_loader(ds).pin_memory


def test_collect_reads_only_the_first_samples():
    x, y = collect(open_dataset("digits"), limit=7, batch_size=3)
    torch.testing.assert_close(x, load_dataset("digits", limit=7)[0])
    assert y.shape == (7,)
    assert collect(open_dataset("digits"), limit=0)[0].shape == (0, 1, 8, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"batch_size": 0}, "batch_size"), ({"num_workers": -1}, "num_workers")]
)
def test_bad_loader_options(kwargs: dict[str, int], match: str):
    with pytest.raises(ValueError, match=match):
        data_loader(open_dataset("digits"), **kwargs)  # type: ignore[arg-type]
