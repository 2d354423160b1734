"""Labelled inputs addressed by index and read a batch at a time.

Problem solved: an evaluation of 50,000 ImageNet images cannot hold them as one tensor,
yet it must reach any sample by its index (a batch, a process's shard, the samples an
attack left robust, the sample a stored example belongs to). :class:`Samples` gives the
first ``n`` samples of a map-style dataset (or a pair of tensors already in memory) that
way: :meth:`Samples.take` decodes only the rows asked for and puts them on the device,
:meth:`Samples.batches` walks them in order, so memory is bounded by the batch.

Example:
    >>> import torch
    >>> from advkit.data.samples import Samples
    >>> data = Samples.of((torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 3, 4])))
    >>> x, y = data.take([3, 1])
    >>> len(data), tuple(x.shape), y.tolist()
    (5, (2, 1, 2, 2), [3, 1])
    >>> [rows for rows, _, _ in data.batches(2)]
    [range(0, 2), range(2, 4), range(4, 5)]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from advkit.data.open import open_dataset

__all__ = ["Rows", "Samples", "open_samples"]

Rows = Sequence[int] | Tensor
"""Sample indices: a range, a list or a 1-d integer tensor."""


class Samples:
    """The first ``n`` samples ``(image, label)`` of a dataset, on ``device``.

    Args:
        dataset: a map-style dataset of ``(image tensor, integer label)`` samples, or a
            pair ``(x, y)`` of tensors (N, ...) and (N,).
        n: how many samples, from index 0 (default: all of them).
        device: the device :meth:`take` puts batches on (default: where the tensors of a
            pair are; the CPU for a dataset).

    Raises:
        ValueError: ``n`` below 0 or above the dataset's length, or a pair whose lengths
            differ.
    """

    def __init__(
        self,
        dataset: Dataset[Any] | tuple[Tensor, Tensor],
        n: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self._pair: tuple[Tensor, Tensor] | None = None
        self._dataset: Dataset[Any] | None = None
        if isinstance(dataset, tuple | list):
            if len(dataset) != 2:
                raise ValueError("a pair of tensors (x, y) is expected")
            x, y = dataset
            if len(x) != len(y):
                raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
            self._pair, total, here = (x, y), len(x), x.device
        else:
            self._dataset, total, here = dataset, len(dataset), torch.device("cpu")  # type: ignore[arg-type]
        if n is not None and not 0 <= n <= total:
            raise ValueError(f"n must be in [0, {total}], got {n}")
        self._n = total if n is None else n
        self.device = here if device is None else torch.device(device)

    @classmethod
    def of(cls, data: Samples | Dataset[Any] | tuple[Tensor, Tensor]) -> Samples:
        """``data`` as samples: itself when it already is, else :class:`Samples` of it."""
        return data if isinstance(data, Samples) else cls(data)

    def __len__(self) -> int:
        return self._n

    def to(self, device: str | torch.device) -> Samples:
        """The same samples, put on ``device`` when taken."""
        source = self._pair if self._pair is not None else self._dataset
        return Samples(source, self._n, device)  # type: ignore[arg-type]

    def take(self, rows: Rows) -> tuple[Tensor, Tensor]:
        """The samples at ``rows`` as ``(x, y)`` on the device (labels int64).

        Raises:
            IndexError: an index outside ``[0, n)``.
        """
        index = [int(i) for i in (rows.tolist() if isinstance(rows, Tensor) else rows)]
        bad = [i for i in index if not 0 <= i < self._n]
        if bad:
            raise IndexError(f"sample index {bad[0]} is outside [0, {self._n})")
        if self._pair is not None:
            x, y = self._pair
            at = torch.tensor(index, dtype=torch.long, device=x.device)
            return x[at].to(self.device), y[at].to(self.device).long()
        return self._decode(index)

    def _decode(self, index: list[int]) -> tuple[Tensor, Tensor]:
        """The dataset's samples at ``index``, each copied into one batch tensor as soon as
        it is decoded (no list of decoded samples: the allocator reuses one sample's
        memory, and memory stays flat over a long run)."""
        first, label = self._dataset[index[0] if index else 0]  # type: ignore[index]
        cpu = torch.device("cpu")
        first = _tensor(first)
        x = torch.empty((len(index), *first.shape), dtype=first.dtype, device=cpu)
        y = torch.empty(len(index), dtype=torch.int64, device=cpu)
        for row, i in enumerate(index):
            image, label = (first, label) if row == 0 else self._dataset[i]  # type: ignore[index]
            image = _tensor(image)
            if image.shape != first.shape:
                raise ValueError(
                    f"sample {i} has shape {tuple(image.shape)}, but sample {index[0]} has "
                    f"{tuple(first.shape)}: every sample of a dataset needs one shape "
                    "(resize or crop the images in the dataset)"
                )
            x[row].copy_(image)
            y[row] = _label(label, i)
        return x.to(self.device), y.to(self.device)

    def batches(
        self, size: int, rows: Rows | None = None
    ) -> Iterator[tuple[Sequence[int], Tensor, Tensor]]:
        """``(indices, x, y)`` for consecutive chunks of ``size`` of ``rows`` (default:
        every sample, as ranges in order)."""
        if size < 1:
            raise ValueError(f"batch size must be >= 1, got {size}")
        if rows is None:
            for start in range(0, self._n, size):
                stop = min(start + size, self._n)
                yield (range(start, stop), *self.take(range(start, stop)))
            return
        index = [int(i) for i in (rows.tolist() if isinstance(rows, Tensor) else rows)]
        for start in range(0, len(index), size):
            part = index[start : start + size]
            yield (part, *self.take(part))


def _tensor(image: Any) -> Tensor:
    """A sample's image as a tensor (a tensor stays where it is; anything else goes to the
    CPU, whatever torch's default device)."""
    return image if isinstance(image, Tensor) else torch.as_tensor(image, device="cpu")


def _label(label: Any, i: int) -> int:
    """An integer class label, or an error naming sample ``i``."""
    value = label.item() if isinstance(label, Tensor) and label.numel() == 1 else label
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(
            f"sample {i} has the label {label!r}; labels must be integer class indices "
            "(e.g. int(label) for a float that holds one)"
        )
    return int(value)


def open_samples(
    name: str,
    split: str = "test",
    data_dir: str | Path | None = None,
    n: int | None = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> Samples:
    """The first ``n`` samples of a dataset split (all when None or when the split is
    shorter), read a batch at a time: :func:`~advkit.data.open_dataset` as
    :class:`Samples`; the same values :func:`~advkit.data.load_dataset` returns whole.

    Example:
        >>> from advkit.data.samples import open_samples
        >>> len(open_samples("digits", n=50))
        50
    """
    if n is not None and n < 0:
        raise ValueError(f"n must be >= 0 or None, got {n}.")
    dataset = open_dataset(name, split, data_dir, download, verify=verify)
    total = len(dataset)  # type: ignore[arg-type]
    return Samples(dataset, total if n is None else min(n, total))
