"""Datasets as tensors in pixel space: download, checksum, cache and safe parsing.

Problem solved: every attack and evaluation in advkit works on images in ``[0, 1]``;
:func:`load_dataset` returns any supported dataset in that form, from a local folder
(never touching the network; its files are checked against the dataset's official SHA-256
unless ``verify=False``) or from the official sources (SHA-256 verified, cached in
``$ADVKIT_CACHE`` or ``~/.cache/advkit``).

Datasets (see :data:`DATASETS`): ``"digits"`` (built in, offline), ``"mnist"``,
``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``, ``"imagenet"`` (a local copy of the
validation set); and the user's own (:data:`CUSTOM_DATASETS`): ``"folder"`` (any
class-folder tree of images) and ``"tensors"`` (an ``.npz``/``.pt`` file).

Data larger than memory streams: :func:`open_dataset` returns any of them as a map-style
torch dataset (samples addressed by index, decoded when used) and :func:`data_loader`
iterates it batch by batch (workers, pinned memory on GPU).

Example:
    >>> from advkit.data import load_dataset
    >>> x, y = load_dataset("digits", split="test", limit=100)
    >>> tuple(x.shape), x.dtype, y.dtype
    ((100, 1, 8, 8), torch.float32, torch.int64)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from advkit.data.catalog import DATASETS, DatasetInfo
from advkit.data.digits import load_digits_split
from advkit.data.download import ChecksumError, DownloadError, cache_dir, fetch
from advkit.data.loader import collect, data_loader
from advkit.data.official import read_official
from advkit.data.open import CUSTOM_DATASETS, SPLITS, open_dataset

__all__ = [
    "CUSTOM_DATASETS",
    "DATASETS",
    "SPLITS",
    "STREAMED",
    "ChecksumError",
    "DatasetInfo",
    "DownloadError",
    "cache_dir",
    "collect",
    "data_loader",
    "fetch",
    "load_dataset",
    "open_dataset",
]

STREAMED = ("imagenet", *CUSTOM_DATASETS)
"""Datasets decoded sample by sample, never read whole."""


def load_dataset(
    name: str,
    split: str = "test",
    data_dir: str | Path | None = None,
    download: bool = True,
    limit: int | None = None,
    *,
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset split as float images in [0, 1] and integer labels.

    Args:
        name: one of :data:`DATASETS` (``"digits"``, ``"mnist"``, ``"fashion-mnist"``,
            ``"cifar10"``, ``"cifar100"``, ``"imagenet"``) or :data:`CUSTOM_DATASETS`
            (``"folder"``, ``"tensors"``). ``imagenet``, ``folder`` and ``tensors`` are
            decoded sample by sample (:func:`open_dataset`) and only the first ``limit``
            are read.
        split: ``"train"``, ``"test"`` (default) or ``"all"`` (train then test).
        data_dir: local folder with the official files (IDX files named as published,
            ``.gz`` or not, directly inside or in a ``mnist``/``fashion-mnist`` subfolder;
            for CIFAR-10 the ``cifar-10-batches-py`` folder or ``cifar-10-python.tar.gz``,
            for CIFAR-100 ``cifar-100-python`` or ``cifar-100-python.tar.gz``; for
            ``imagenet`` and ``folder`` the class-folder tree, for ``tensors`` the file).
            When given, the network is never used. Ignored for ``"digits"``.
        download: when ``data_dir`` is not given, download missing files into the cache;
            with ``False`` only already-cached files are used. Ignored for ``"digits"``.
            CIFAR-10 is read straight from the cached tarball (163 MB) on every call.
        limit: keep only the first ``limit`` samples of the split (official order).
        verify: check the files found in ``data_dir`` against the official SHA-256 of
            ``name`` (default). A mismatch raises, naming the dataset the files really
            belong to when they are another dataset's; ``False`` accepts a custom copy
            (CLI: ``--no-verify-data``). Downloaded and cached files are always checked.

    Returns:
        ``(x, y)``: x float32 of shape (N, C, H, W) in [0, 1] (uint8 pixels / 255;
        digits gray levels / 16), y int64 of shape (N,).

    Raises:
        ValueError: unknown name or split, negative limit; a wrong folder layout,
            ImageNet label mapping or tensor file content (the message says how to fix it).
        FileNotFoundError: files missing from ``data_dir``, or not cached with
            ``download=False``; the message says how to get them.
        ChecksumError: a downloaded file has the wrong SHA-256, or (with ``verify``) a
            file in ``data_dir`` is not the official file of ``name``.
        DownloadError: no mirror could be reached.
    """
    if name not in DATASETS and name not in CUSTOM_DATASETS:
        known = sorted([*DATASETS, *CUSTOM_DATASETS])
        raise ValueError(f"unknown dataset {name!r}; choose one of {known}.")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}.")
    folder = None if data_dir is None else Path(data_dir).expanduser()
    if folder is not None and not folder.is_dir() and name != "tensors":
        raise FileNotFoundError(f"data_dir {folder} is not a folder.")
    if name in STREAMED:
        return collect(open_dataset(name, split, folder, download, verify=verify), limit)
    if name == "digits":
        x, y = load_digits_split(split)
    elif split == "all":
        parts = [read_official(name, s, folder, download, verify) for s in ("train", "test")]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
    else:
        x, y = read_official(name, split, folder, download, verify)
    x, y = x[:limit], y[:limit]
    images = torch.from_numpy(np.ascontiguousarray(x))
    if images.dtype == torch.uint8:
        images = images.to(torch.float32).div_(255.0)
    return images, torch.from_numpy(np.ascontiguousarray(y)).to(torch.int64)
