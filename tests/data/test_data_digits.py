"""The built-in digits dataset: shapes, range, fixed split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advkit.data import DATASETS, load_dataset
from advkit.data.digits import load_digits_split


@pytest.mark.parametrize(("split", "n"), [("train", 1198), ("test", 599), ("all", 1797)])
def test_shapes_range_dtypes(split: str, n: int):
    x, y = load_dataset("digits", split=split)
    assert x.shape == (n, 1, 8, 8)
    assert x.dtype == torch.float32
    assert y.shape == (n,)
    assert y.dtype == torch.int64
    assert float(x.min()) == 0.0
    assert float(x.max()) == 1.0
    assert set(y.tolist()) == set(range(10))
    assert torch.all(torch.isin(x * 16, torch.arange(17.0)))


def test_split_is_deterministic_and_partitions_all():
    x_train, y_train = load_digits_split("train")
    x_test, y_test = load_digits_split("test")
    x_all, y_all = load_digits_split("all")
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x_all)
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y_all)
    x_again, y_again = load_digits_split("test")
    np.testing.assert_array_equal(x_again, x_test)
    np.testing.assert_array_equal(y_again, y_test)


def test_matches_catalog():
    info = DATASETS["digits"]
    x, _ = load_dataset("digits", split="train")
    assert tuple(x.shape[1:]) == info.input_shape
    assert len(x) == info.train_size
    assert len(load_dataset("digits")[0]) == info.test_size


def test_unknown_split():
    with pytest.raises(ValueError, match="digits split must be one of"):
        load_digits_split("validation")
