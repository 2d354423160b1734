"""Streaming a dataset batch by batch through a :class:`torch.utils.data.DataLoader`.

Problem solved: a dataset that does not fit in memory (ImageNet's validation set, a large
folder of images) must reach the model one batch at a time, decoded by worker processes
and, on a GPU, copied from pinned memory. :func:`data_loader` builds that loader over any
map-style dataset of ``(image, label)`` samples (optionally only some indices, e.g. one
process's shard), in index order; :func:`collect` gathers the first samples of a dataset
into the ``(x, y)`` tensors of :func:`advkit.data.load_dataset`, holding one batch
besides the result.

Example:
    >>> from advkit.data.loader import data_loader
    >>> from advkit.data.open import open_dataset
    >>> loader = data_loader(open_dataset("digits"), batch_size=100)
    >>> x, y = next(iter(loader))
    >>> tuple(x.shape), y.dtype
    ((100, 1, 8, 8), torch.int64)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Subset

__all__ = ["collect", "data_loader"]

Sample = tuple[torch.Tensor, int]


def data_loader(
    dataset: Dataset[Sample],
    batch_size: int = 256,
    *,
    num_workers: int = 0,
    device: str | torch.device | None = None,
    indices: Sequence[int] | None = None,
) -> DataLoader[Sample]:
    """A loader of ``(x, y)`` batches in index order (no shuffling).

    Args:
        dataset: a map-style dataset of ``(image, label)`` samples.
        batch_size: samples per batch.
        num_workers: worker processes decoding samples (0: in this process).
        device: the device the batches go to; on CUDA the loader pins memory so the
            copy can overlap with compute (``x.to(device, non_blocking=True)``).
        indices: only these samples, in this order (e.g. one rank's shard).

    Raises:
        ValueError: ``batch_size`` below 1 or ``num_workers`` below 0.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}.")
    source = dataset if indices is None else Subset(dataset, list(indices))
    pin = device is not None and torch.device(device).type == "cuda"
    return DataLoader(
        source,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin,
        persistent_workers=False,
    )


def collect(
    dataset: Dataset[Sample],
    limit: int | None = None,
    batch_size: int = 256,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` samples (all when ``None``) as ``(x, y)`` tensors.

    Only those samples are decoded; the result is written in place batch by batch.

    Example:
        >>> from advkit.data.loader import collect
        >>> from advkit.data.open import open_dataset
        >>> x, y = collect(open_dataset("digits"), limit=5)
        >>> tuple(x.shape), tuple(y.shape)
        ((5, 1, 8, 8), (5,))
    """
    n = len(dataset)  # type: ignore[arg-type]
    n = n if limit is None else min(n, limit)
    if n == 0:
        image, _ = dataset[0] if len(dataset) else (torch.empty(0), 0)  # type: ignore[arg-type]
        return torch.empty((0, *image.shape)), torch.empty(0, dtype=torch.int64)
    loader = data_loader(dataset, batch_size, num_workers=num_workers, indices=range(n))
    x: torch.Tensor | None = None
    y = torch.empty(n, dtype=torch.int64)
    start = 0
    for xb, yb in loader:
        if x is None:
            x = torch.empty((n, *xb.shape[1:]), dtype=xb.dtype)
        x[start : start + len(xb)] = xb
        y[start : start + len(yb)] = yb
        start += len(xb)
    assert x is not None
    return x, y
