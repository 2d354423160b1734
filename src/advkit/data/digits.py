"""The built-in dataset: scikit-learn's 8×8 handwritten digits.

Problem solved: examples and tests need a real image classification dataset that is
available offline, instantly. scikit-learn ships the UCI "Optical Recognition of
Handwritten Digits" test set (1,797 images, 8×8, 17 gray levels 0..16, 10 classes;
Alpaydin & Kaynak 1998) inside its wheel, so no download is ever needed.

The split is fixed and deterministic: the first 1,198 images (in scikit-learn's order)
are ``"train"``, the last 599 (one third) are ``"test"``.

Example:
    >>> from advkit.data.digits import load_digits_split
    >>> x, y = load_digits_split("test")
    >>> x.shape, x.dtype, y.dtype
    ((599, 1, 8, 8), dtype('float32'), dtype('int64'))
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

__all__ = ["DIGITS_SPLITS", "load_digits_split"]

DIGITS_SPLITS = ("train", "test", "all")

_N_TOTAL = 1797
_N_TEST = _N_TOTAL // 3


def load_digits_split(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load the 8×8 digits as images in [0, 1].

    Args:
        split: ``"train"`` (first 1,198), ``"test"`` (last 599) or ``"all"`` (1,797).

    Returns:
        ``(x, y)``: x float32 of shape (N, 1, 8, 8) in [0, 1] (gray level / 16),
        y int64 of shape (N,) in 0..9.

    Raises:
        ValueError: unknown split.
    """
    if split not in DIGITS_SPLITS:
        raise ValueError(f"digits split must be one of {DIGITS_SPLITS}, got {split!r}.")
    bunch = load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    cut = len(y) - _N_TEST
    if split == "train":
        return x[:cut], y[:cut]
    if split == "test":
        return x[cut:], y[cut:]
    return x, y
