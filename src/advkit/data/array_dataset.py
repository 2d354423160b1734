"""A map-style dataset over image arrays already in memory (MNIST, CIFAR, digits).

Problem solved: the official small datasets arrive as one uint8 array; turning it whole
into float32 tensors quadruples its memory. :class:`ArrayDataset` keeps the compact array
and converts one sample at a time when indexed, so a :class:`torch.utils.data.DataLoader`
(or a :class:`~torch.utils.data.Subset` of indices, for sharding) streams it batch by
batch.

Example:
    >>> import numpy as np
    >>> from advkit.data.array_dataset import ArrayDataset
    >>> ds = ArrayDataset(np.full((2, 1, 2, 2), 255, np.uint8), np.array([3, 4]))
    >>> x, y = ds[1]
    >>> tuple(x.shape), float(x.max()), y
    ((1, 2, 2), 1.0, 4)
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["ArrayDataset", "to_unit_float"]


def to_unit_float(images: np.ndarray) -> torch.Tensor:
    """uint8 pixels as float32 in [0, 1] (/255); float images as float32, unchanged.

    Example:
        >>> import numpy as np
        >>> to_unit_float(np.array([0, 255], np.uint8)).tolist()
        [0.0, 1.0]
    """
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    if tensor.dtype == torch.uint8:
        return tensor.to(torch.float32).div_(255.0)
    return tensor.to(torch.float32)


class ArrayDataset(Dataset[tuple[torch.Tensor, int]]):
    """Samples ``(image, label)`` of an (N, C, H, W) array and its (N,) labels.

    Args:
        images: uint8 pixels (scaled by 1/255 when indexed) or float images in [0, 1].
        labels: integer labels, one per image.

    Raises:
        ValueError: ``images`` is not 4-d, or the counts differ.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(
                f"expected images (N, C, H, W) and N labels, got images {images.shape} and "
                f"labels {labels.shape}."
            )
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return to_unit_float(self.images[index]), int(self.labels[index])
