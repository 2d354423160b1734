"""Checking local dataset files against the official SHA-256 of every known dataset.

Problem solved: MNIST and Fashion-MNIST publish files with the same names, and any folder
of well-formed IDX files or CIFAR batches parses, so a wrong ``data_dir`` would load
silently and every number computed on it would be wrong. :func:`verify_local_files`
hashes each file found locally and compares it with the official digests of the
requested dataset; on a mismatch it looks the digest up among *all* known datasets and
says which dataset (and which file) the folder really holds, or that the file is not an
official one (a damaged download or a custom copy, accepted with ``verify=False``).

A ``.gz`` file is also recognized by its decompressed content, so an uncompressed copy
(``gunzip``, torchvision's ``MNIST/raw``) or a recompressed one of the official data
passes. Nothing is cached: hashing the largest file (CIFAR-10's 163 MB tarball) takes
well under a second.

Example:
    >>> from advkit.data.verify import OFFICIAL_FILES
    >>> sorted({f.dataset for f in OFFICIAL_FILES})
    ['cifar10', 'fashion-mnist', 'mnist']
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from advkit.data.cifar import CIFAR10_BATCH_SHA256, CIFAR10_TARBALL
from advkit.data.download import ChecksumError, sha256sum
from advkit.data.mnist import IDX_DATASETS, UNCOMPRESSED_SHA256

__all__ = ["OFFICIAL_FILES", "OfficialFile", "verify_local_files"]

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


@dataclass(frozen=True)
class OfficialFile:
    """One file of a dataset's official distribution.

    Attributes:
        dataset: the dataset's name in :data:`advkit.data.DATASETS`.
        filename: the file's official name (an uncompressed IDX file is listed under its
            name without ``.gz``).
        sha256: hex SHA-256 digest of the official file.
    """

    dataset: str
    filename: str
    sha256: str


def _official_files() -> tuple[OfficialFile, ...]:
    files = []
    for dataset, splits in IDX_DATASETS.items():
        for pair in splits.values():
            for remote in (pair.images, pair.labels):
                raw_name = remote.filename.removesuffix(".gz")
                files.append(OfficialFile(dataset, remote.filename, remote.sha256))
                files.append(OfficialFile(dataset, raw_name, UNCOMPRESSED_SHA256[remote.sha256]))
    files.append(OfficialFile("cifar10", CIFAR10_TARBALL.filename, CIFAR10_TARBALL.sha256))
    files += [OfficialFile("cifar10", n, h) for n, h in CIFAR10_BATCH_SHA256.items()]
    return tuple(files)


OFFICIAL_FILES: tuple[OfficialFile, ...] = _official_files()


def verify_local_files(dataset: str, files: Iterable[Path]) -> None:
    """Check that local files are the official files of ``dataset``.

    Each file is matched by its name (``t10k-images-idx3-ubyte.gz``, ``test_batch``, ...;
    with or without ``.gz``) to the official digests; a gzip file whose bytes differ is
    also accepted when its decompressed content is the official content.

    Args:
        dataset: the requested dataset, e.g. ``"mnist"``.
        files: the local files about to be read, under their official names.

    Raises:
        ChecksumError: a file is not the requested dataset's official file; the message
            names the dataset (and file) it really is when its digest is known, or says
            how to accept a custom copy (``verify=False``, CLI ``--no-verify-data``).

    Example:
        >>> from pathlib import Path
        >>> from advkit.data.verify import verify_local_files
        >>> verify_local_files("mnist", [Path("mnist/t10k-labels-idx1-ubyte.gz")])  # doctest: +SKIP
    """
    for path in files:
        stem = path.name.removesuffix(".gz")
        expected = [
            f
            for f in OFFICIAL_FILES
            if f.dataset == dataset and f.filename.removesuffix(".gz") == stem
        ]
        official = {f.sha256 for f in expected}
        digests = [sha256sum(path)]
        if digests[0] in official:
            continue
        digests += _content_digest(path)
        if not official.intersection(digests):
            raise ChecksumError(_mismatch(dataset, path, digests, expected))


def _content_digest(path: Path) -> list[str]:
    """The SHA-256 of a gzip file's decompressed content ([] for other or broken files)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return []
    try:
        return [hashlib.sha256(gzip.decompress(raw)).hexdigest()]
    except (EOFError, OSError, zlib.error):
        return []


def _mismatch(
    dataset: str, path: Path, digests: Sequence[str], expected: Sequence[OfficialFile]
) -> str:
    """Why ``path`` is refused, and what to do about it."""
    title = _TITLES.get(dataset, dataset)
    known = [f for f in OFFICIAL_FILES if f.sha256 in digests]
    if known and known[0].dataset != dataset:
        other = known[0]
        return (
            f"these files are {_TITLES[other.dataset]}'s, not {title}'s: {path} is "
            f"{_TITLES[other.dataset]}'s official {other.filename}. If you meant "
            f"{_TITLES[other.dataset]}, pass --dataset {other.dataset} "
            f"(load_dataset({other.dataset!r}, ...)); otherwise point --data-dir at the "
            f"{title} files."
        )
    if known:
        return (
            f"{path} is {title}'s {known[0].filename}, not its {path.name}: the file was "
            f"renamed or copied to the wrong place. Put the official {path.name} there."
        )
    wanted = ", ".join(f.sha256[:12] for f in expected) or "none known"
    return (
        f"{path} is not the official {title} file {path.name} (sha256 {digests[0][:12]}…, "
        f"official {wanted}…): it is damaged or a custom copy. Replace it with the official "
        f"file (or leave data_dir unset to download it), or accept a custom copy with "
        f"verify=False (CLI: --no-verify-data)."
    )
