"""CIFAR-100: official files, their checksums, and reading them safely.

Problem solved: CIFAR-100 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html)
is published like CIFAR-10, as Python pickles (``train`` with 50,000 images, ``test``
with 10,000) in ``cifar-100-python.tar.gz``; its labels are under ``fine_labels`` (100
classes). This module finds the files (the tarball or its extracted ``cifar-100-python``
folder), checks them against the published digests (SHA-256 of the tarball, MD5 of the
extracted files, the only digests published for them) and reads them with the restricted
unpickler of :mod:`advkit.data.cifar`, which never runs code from the file.

Example:
    >>> from advkit.data.cifar100 import CIFAR100_CLASSES, read_cifar100
    >>> len(CIFAR100_CLASSES)
    100
    >>> x, y = read_cifar100("cifar-100-python.tar.gz", "test")  # doctest: +SKIP
    >>> x.shape  # doctest: +SKIP
    (10000, 3, 32, 32)
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from advkit.data.cifar import load_cifar_batch
from advkit.data.download import ChecksumError, RemoteFile, sha256sum

__all__ = [
    "CIFAR100_CLASSES",
    "CIFAR100_FILE_MD5",
    "CIFAR100_TARBALL",
    "cifar100_file",
    "read_cifar100",
    "verify_cifar100",
]

CIFAR100_CLASSES = tuple(
    [
        "apple",
        "aquarium_fish",
        "baby",
        "bear",
        "beaver",
        "bed",
        "bee",
        "beetle",
        "bicycle",
        "bottle",
        "bowl",
        "boy",
        "bridge",
        "bus",
        "butterfly",
        "camel",
        "can",
        "castle",
        "caterpillar",
        "cattle",
        "chair",
        "chimpanzee",
        "clock",
        "cloud",
        "cockroach",
        "couch",
        "crab",
        "crocodile",
        "cup",
        "dinosaur",
        "dolphin",
        "elephant",
        "flatfish",
        "forest",
        "fox",
        "girl",
        "hamster",
        "house",
        "kangaroo",
        "keyboard",
        "lamp",
        "lawn_mower",
        "leopard",
        "lion",
        "lizard",
        "lobster",
        "man",
        "maple_tree",
        "motorcycle",
        "mountain",
        "mouse",
        "mushroom",
        "oak_tree",
        "orange",
        "orchid",
        "otter",
        "palm_tree",
        "pear",
        "pickup_truck",
        "pine_tree",
        "plain",
        "plate",
        "poppy",
        "porcupine",
        "possum",
        "rabbit",
        "raccoon",
        "ray",
        "road",
        "rocket",
        "rose",
        "sea",
        "seal",
        "shark",
        "shrew",
        "skunk",
        "skyscraper",
        "snail",
        "snake",
        "spider",
        "squirrel",
        "streetcar",
        "sunflower",
        "sweet_pepper",
        "table",
        "tank",
        "telephone",
        "television",
        "tiger",
        "tractor",
        "train",
        "trout",
        "tulip",
        "turtle",
        "wardrobe",
        "whale",
        "willow_tree",
        "wolf",
        "woman",
        "worm",
    ]
)
"""The 100 fine class names, indexed by label (the official ``meta`` file's order)."""

CIFAR100_TARBALL = RemoteFile(
    "cifar-100-python.tar.gz",
    "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
)

CIFAR100_FILE_MD5: Mapping[str, str] = MappingProxyType(
    {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"}
)
"""MD5 of each file of the extracted ``cifar-100-python`` folder, as published."""

_FOLDER = "cifar-100-python"
_LABELS = "fine_labels"


def cifar100_file(source: str | Path, split: str) -> Path:
    """The file :func:`read_cifar100` reads for ``split``: the split's file, or the tarball.

    Args:
        source: ``cifar-100-python.tar.gz``, the ``cifar-100-python`` folder, or a folder
            holding either.
        split: ``"train"`` or ``"test"``.

    Raises:
        FileNotFoundError: neither is found; the message says where to get them.
        ValueError: unknown split.

    Example:
        >>> from advkit.data.cifar100 import cifar100_file
        >>> cifar100_file("data", "test")  # doctest: +SKIP
        PosixPath('data/cifar-100-python/test')
    """
    if split not in CIFAR100_FILE_MD5:
        raise ValueError(f"CIFAR-100 split must be 'train' or 'test', got {split!r}.")
    source = Path(source)
    if source.is_file():
        return source
    for folder in (source, source / _FOLDER):
        if (folder / split).is_file():
            return folder / split
    tarball = source / CIFAR100_TARBALL.filename
    if tarball.is_file():
        return tarball
    raise FileNotFoundError(
        f"no CIFAR-100 file {split!r} found in {source} or {source / _FOLDER}, and no "
        f"{tarball}. Download {CIFAR100_TARBALL.filename} from "
        "https://www.cs.toronto.edu/~kriz/cifar.html and put it (or its extracted "
        f"{_FOLDER} folder) there."
    )


def read_cifar100(source: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a CIFAR-100 split (fine labels) from its file or from the official tarball.

    Args:
        source: as for :func:`cifar100_file`.
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000).

    Returns:
        ``(x, y)``: x uint8 (N, 3, 32, 32), y int64 (N,) in 0..99, in the official order.

    Raises:
        FileNotFoundError: no file for ``split``.
        ValueError: a malformed file (keys, shapes, labels).
        pickle.UnpicklingError: the file references code (tampered).
    """
    path = cifar100_file(source, split)
    if path.name == split:
        with path.open("rb") as file:
            return load_cifar_batch(file, str(path), _LABELS, len(CIFAR100_CLASSES))
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            if member.isfile() and Path(member.name).name == split:
                batch = tar.extractfile(member)
                if batch is not None:
                    name = f"{path}:{member.name}"
                    return load_cifar_batch(batch, name, _LABELS, len(CIFAR100_CLASSES))
    raise FileNotFoundError(
        f"{path} holds no CIFAR-100 file {split!r}; is it {CIFAR100_TARBALL.filename}?"
    )


def verify_cifar100(files: Iterable[Path]) -> None:
    """Check local CIFAR-100 files against the published digests.

    The tarball is checked by its SHA-256, an extracted ``train``/``test`` file by its MD5.

    Raises:
        ChecksumError: a file is damaged or a custom copy; the message says how to accept
            one (``verify=False``, CLI ``--no-verify-data``).

    Example:
        >>> from pathlib import Path
        >>> from advkit.data.cifar100 import verify_cifar100
        >>> verify_cifar100([Path("cifar-100-python/test")])  # doctest: +SKIP
    """
    for path in files:
        if path.name in CIFAR100_FILE_MD5:
            expected = CIFAR100_FILE_MD5[path.name]
            actual = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        else:
            expected, actual = CIFAR100_TARBALL.sha256, sha256sum(path)
        if actual != expected:
            raise ChecksumError(
                f"{path} is not the official CIFAR-100 file {path.name} (digest "
                f"{actual[:12]}…, official {expected[:12]}…): it is damaged or a custom copy. "
                "Replace it with the official file (or leave data_dir unset to download it), "
                "or accept a custom copy with verify=False (CLI: --no-verify-data)."
            )
