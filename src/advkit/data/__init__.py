"""Datasets as tensors in pixel space: download, checksum, cache and safe parsing.

Problem solved: every attack and evaluation in advkit works on images in ``[0, 1]``;
:func:`load_dataset` returns any supported dataset in that form, from a local folder
(never touching the network; its files are checked against the dataset's official SHA-256
unless ``verify=False``) or from the official sources (SHA-256 verified, cached in
``$ADVKIT_CACHE`` or ``~/.cache/advkit``).

Datasets (see :data:`DATASETS`): ``"digits"`` (built in, offline), ``"mnist"``,
``"fashion-mnist"``, ``"cifar10"``.

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
from advkit.data.cifar import CIFAR10_TARBALL, cifar10_files, read_cifar10
from advkit.data.digits import load_digits_split
from advkit.data.download import (
    ChecksumError,
    DownloadError,
    RemoteFile,
    cache_dir,
    fetch,
    find_cached,
)
from advkit.data.mnist import IDX_DATASETS, find_local_file, read_idx_pair
from advkit.data.verify import verify_local_files

__all__ = [
    "DATASETS",
    "SPLITS",
    "ChecksumError",
    "DatasetInfo",
    "DownloadError",
    "cache_dir",
    "fetch",
    "load_dataset",
]

SPLITS = ("train", "test", "all")

_IDX_SUBFOLDERS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
}


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
            ``"cifar10"``).
        split: ``"train"``, ``"test"`` (default) or ``"all"`` (train then test).
        data_dir: local folder with the official files (IDX files named as published,
            ``.gz`` or not, directly inside or in a ``mnist``/``fashion-mnist`` subfolder;
            for CIFAR-10 the ``cifar-10-batches-py`` folder or ``cifar-10-python.tar.gz``).
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
        ValueError: unknown name or split, negative limit.
        FileNotFoundError: files missing from ``data_dir``, or not cached with
            ``download=False``; the message says how to get them.
        ChecksumError: a downloaded file has the wrong SHA-256, or (with ``verify``) a
            file in ``data_dir`` is not the official file of ``name``.
        DownloadError: no mirror could be reached.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}.")
    folder = None if data_dir is None else Path(data_dir).expanduser()
    if folder is not None and not folder.is_dir():
        raise FileNotFoundError(f"data_dir {folder} is not a folder.")
    if name == "digits":
        x, y = load_digits_split(split)
    elif split == "all":
        parts = [_load_uint8(name, s, folder, download, verify) for s in ("train", "test")]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
    else:
        x, y = _load_uint8(name, split, folder, download, verify)
    x, y = x[:limit], y[:limit]
    images = torch.from_numpy(np.ascontiguousarray(x))
    if images.dtype == torch.uint8:
        images = images.to(torch.float32).div_(255.0)
    return images, torch.from_numpy(np.ascontiguousarray(y)).to(torch.int64)


def _load_uint8(
    name: str, split: str, folder: Path | None, download: bool, verify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Load a downloadable dataset split as uint8 (N, C, H, W) images and int64 labels."""
    if name == "cifar10":
        source = folder if folder is not None else _cached(name, CIFAR10_TARBALL, download)
        if folder is not None and verify:
            verify_local_files(name, cifar10_files(folder, split))
        return read_cifar10(source, split)
    pair = IDX_DATASETS[name][split]
    if folder is not None:
        subfolders = _IDX_SUBFOLDERS[name]
        images = find_local_file(folder, pair.images.filename, subfolders)
        labels = find_local_file(folder, pair.labels.filename, subfolders)
        if verify:
            verify_local_files(name, (images, labels))
    else:
        images = _cached(name, pair.images, download)
        labels = _cached(name, pair.labels, download)
    return read_idx_pair(images, labels)


def _cached(name: str, remote: RemoteFile, download: bool) -> Path:
    """Return the verified cached file, downloading it when allowed."""
    folder = cache_dir() / name
    if download:
        return remote.fetch(folder)
    cached = find_cached(remote.filename, remote.sha256, folder)
    if cached is not None:
        return cached
    raise FileNotFoundError(
        f"{name}: {remote.filename} is not in the cache ({folder}), or is damaged, and "
        "download=False. "
        f"Allow the download (download=True) from {remote.urls[0]}, or pass a folder "
        "holding the official files as data_dir (CLI: --data-dir)."
    )
