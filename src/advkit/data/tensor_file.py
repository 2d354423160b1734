"""Custom data from one tensor file (``.npz`` or ``.pt``), checked before any use.

Problem solved: a custom test set saved as arrays must reach advkit in its conventions
(images (N, C, H, W) in [0, 1], integer labels) or every number computed on it is wrong;
a ``.pt`` file is a pickle and must never run code. :func:`read_tensor_file` reads
``.npz`` with ``allow_pickle=False`` and ``.pt``/``.pth`` with ``torch.load(...,
weights_only=True)``, finds the images and labels (keys ``x``/``y`` or
``images``/``labels``; for ``.pt`` also a pair ``(x, y)``) and checks shapes, dtypes, the
value range and the labels, each failure a message saying how to fix the file.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from advkit.data.tensor_file import read_tensor_file
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "data.npz"
    >>> np.savez(path, x=np.zeros((2, 1, 4, 4), np.uint8), y=np.array([0, 1]))
    >>> x, y = read_tensor_file(path)
    >>> x.shape, y.tolist()
    ((2, 1, 4, 4), [0, 1])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["TENSOR_SUFFIXES", "read_tensor_file"]

TENSOR_SUFFIXES = (".npz", ".pt", ".pth")
_KEYS = (("x", "y"), ("images", "labels"))


def read_tensor_file(
    path: str | Path, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check images and labels saved in an ``.npz`` or ``.pt`` file.

    Args:
        path: the file.
        num_classes: when given, labels must lie in ``0..num_classes-1``.

    Returns:
        ``(x, y)``: x uint8 (pixels, scaled by 1/255 when used) or float32 in [0, 1],
        shape (N, C, H, W); y int64 (N,).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown suffix, missing keys, a wrong shape or dtype, NaN or
            values outside [0, 1], labels that are not integers, negative or too large.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the .npz or .pt file itself.")
    if not path.is_file():
        raise FileNotFoundError(f"tensor file {path} does not exist.")
    if path.suffix not in TENSOR_SUFFIXES:
        raise ValueError(
            f"{path}: a tensor file must end in {', '.join(TENSOR_SUFFIXES)}; save the "
            "images and labels with numpy.savez(path, x=..., y=...) or torch.save({'x': ..., "
            "'y': ...}, path)."
        )
    x, y = _pair(_load(path), path)
    return _check_images(x, path), _check_labels(y, len(x), num_classes, path)


def _load(path: Path) -> Any:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises a bare UnpicklingError/RuntimeError
        raise ValueError(
            f"{path} cannot be read with torch.load(weights_only=True) ({err}); save plain "
            "tensors: torch.save({'x': images, 'y': labels}, path)."
        ) from err


def _pair(content: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (images, labels) arrays of the file's content."""
    if isinstance(content, dict):
        for kx, ky in _KEYS:
            if kx in content and ky in content:
                return _array(content[kx]), _array(content[ky])
        found = sorted(map(str, content))
    elif isinstance(content, tuple | list) and len(content) == 2:
        return _array(content[0]), _array(content[1])
    else:
        found = [type(content).__name__]
    raise ValueError(
        f"{path} must hold images and labels under the keys 'x' and 'y' (or 'images' and "
        f"'labels'); found {found}."
    )


def _array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _check_images(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim != 4:
        raise ValueError(
            f"{path}: images must have shape (N, C, H, W), got {x.shape}; add the channel "
            "axis (x[:, None] for grayscale) or move it first (x.transpose(0, 3, 1, 2))."
        )
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{path}: images must be uint8 pixels or floats in [0, 1], got {x.dtype}.")
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
        raise ValueError(
            f"{path}: {int(bad.sum())} image values are NaN or infinite (first in sample "
            f"{first}); fix or drop those samples."
        )
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{path}: float images must lie in [0, 1], got values in [{lo:g}, {hi:g}]; "
            "save unnormalized images (pixels / 255) and give the normalization to the "
            "model (--mean/--std)."
        )
    return x


def _check_labels(y: np.ndarray, n: int, num_classes: int | None, path: Path) -> np.ndarray:
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{path}: labels must be {n} integers (shape ({n},)), got {y.dtype} {y.shape}."
        )
    top = num_classes if num_classes is not None else None
    if y.size and (int(y.min()) < 0 or (top is not None and int(y.max()) >= top)):
        allowed = f"0..{top - 1}" if top is not None else "≥ 0"
        raise ValueError(
            f"{path}: labels must lie in {allowed}, got {int(y.min())}..{int(y.max())}."
        )
    return y.astype(np.int64, copy=False)
