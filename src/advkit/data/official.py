"""The official small datasets as uint8 arrays: from a local folder, or downloaded.

Problem solved: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 are each published as a few
files with known digests; :func:`read_official` finds them in a local folder (checked
against the official digests unless ``verify=False``) or in advkit's cache (downloaded
and SHA-256 verified when allowed) and returns one split as compact uint8 arrays.

Example:
    >>> from advkit.data.official import OFFICIAL, read_official
    >>> sorted(OFFICIAL)
    ['cifar10', 'cifar100', 'fashion-mnist', 'mnist']
    >>> x, y = read_official("mnist", "test", None, download=True)  # doctest: +SKIP
    >>> x.shape, x.dtype  # doctest: +SKIP
    ((10000, 1, 28, 28), dtype('uint8'))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advkit.data.cifar import CIFAR10_TARBALL, cifar10_files, read_cifar10
from advkit.data.cifar100 import CIFAR100_TARBALL, cifar100_file, read_cifar100, verify_cifar100
from advkit.data.download import RemoteFile, cache_dir, find_cached
from advkit.data.mnist import IDX_DATASETS, find_local_file, read_idx_pair
from advkit.data.verify import verify_local_files

__all__ = ["OFFICIAL", "read_official"]

OFFICIAL = ("mnist", "fashion-mnist", "cifar10", "cifar100")
"""The datasets :func:`read_official` reads."""

_IDX_SUBFOLDERS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
}


def read_official(
    name: str, split: str, folder: Path | None, download: bool, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One split (``"train"`` or ``"test"``) of an official dataset as uint8 arrays.

    Args:
        name: one of :data:`OFFICIAL`.
        split: ``"train"`` or ``"test"``.
        folder: local folder with the official files; ``None``: the cache.
        download: download missing files into the cache (``folder`` is ``None``).
        verify: check the files of ``folder`` against the official digests.

    Returns:
        ``(x, y)``: x uint8 (N, C, H, W), y int64 (N,).

    Raises:
        FileNotFoundError, ChecksumError, DownloadError: see
            :func:`advkit.data.load_dataset`.
    """
    if name == "cifar10":
        source = folder if folder is not None else _cached(name, CIFAR10_TARBALL, download)
        if folder is not None and verify:
            verify_local_files(name, cifar10_files(folder, split))
        return read_cifar10(source, split)
    if name == "cifar100":
        source = folder if folder is not None else _cached(name, CIFAR100_TARBALL, download)
        if folder is not None and verify:
            verify_cifar100([cifar100_file(folder, split)])
        return read_cifar100(source, split)
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
