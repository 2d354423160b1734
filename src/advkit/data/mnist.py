"""MNIST and Fashion-MNIST: official files, their checksums, and reading them.

Problem solved: both datasets are published as four IDX files with the same names
(``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``); this module records where each is
published with its SHA-256 (and the SHA-256 of its decompressed content), finds local
copies (compressed or not, in the common folder layouts), and turns an images/labels
pair into arrays with consistency checks.

Sources:
    MNIST (LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/, mirrored at
    https://ossci-datasets.s3.amazonaws.com/mnist/), CC BY-SA 3.0.
    Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist),
    MIT.

Example:
    >>> from advkit.data.mnist import MNIST_FILES, read_idx_pair
    >>> MNIST_FILES["test"].images.filename
    't10k-images-idx3-ubyte.gz'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from advkit.data.download import RemoteFile
from advkit.data.idx import read_idx

__all__ = [
    "FASHION_MNIST_FILES",
    "IDX_DATASETS",
    "MNIST_FILES",
    "UNCOMPRESSED_SHA256",
    "IDXPair",
    "find_local_file",
    "read_idx_pair",
]

_MNIST_URLS = (
    "http://yann.lecun.com/exdb/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


@dataclass(frozen=True)
class IDXPair:
    """The images and labels files of one split."""

    images: RemoteFile
    labels: RemoteFile


def _remote(bases: tuple[str, ...], filename: str, sha256: str) -> RemoteFile:
    return RemoteFile(filename, sha256, tuple(base + filename for base in bases))


MNIST_FILES: dict[str, IDXPair] = {
    "train": IDXPair(
        _remote(
            _MNIST_URLS,
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        _remote(
            _MNIST_URLS,
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
    ),
    "test": IDXPair(
        _remote(
            _MNIST_URLS,
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        _remote(
            _MNIST_URLS,
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
}

FASHION_MNIST_FILES: dict[str, IDXPair] = {
    "train": IDXPair(
        _remote(
            _FASHION_URLS,
            "train-images-idx3-ubyte.gz",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        _remote(
            _FASHION_URLS,
            "train-labels-idx1-ubyte.gz",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
    ),
    "test": IDXPair(
        _remote(
            _FASHION_URLS,
            "t10k-images-idx3-ubyte.gz",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        _remote(
            _FASHION_URLS,
            "t10k-labels-idx1-ubyte.gz",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
    ),
}


IDX_DATASETS: Mapping[str, Mapping[str, IDXPair]] = MappingProxyType(
    {"mnist": MNIST_FILES, "fashion-mnist": FASHION_MNIST_FILES}
)

# SHA-256 of the decompressed content of each official .gz file above (keyed by the .gz
# file's SHA-256): an uncompressed copy (torchvision's MNIST/raw layout, ``gunzip``) or a
# recompressed one is recognized by its content.
UNCOMPRESSED_SHA256: Mapping[str, str] = MappingProxyType(
    {
        # MNIST
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
        # Fashion-MNIST
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    }
)


def find_local_file(data_dir: Path, filename: str, subfolders: tuple[str, ...]) -> Path:
    """Find an official file in a local folder, gzip-compressed or not.

    Looks for ``filename`` and, for a ``.gz`` name, its uncompressed variant, in
    ``data_dir`` and then in each of ``data_dir / sub`` for ``sub`` in ``subfolders``.

    Args:
        data_dir: folder given by the user.
        filename: official file name, e.g. ``t10k-images-idx3-ubyte.gz``.
        subfolders: relative folders also searched, e.g. ``("mnist", "MNIST/raw")``.

    Returns:
        The first existing candidate.

    Raises:
        FileNotFoundError: none exists; the message lists the folders searched.
    """
    names = [filename]
    if filename.endswith(".gz"):
        names.append(filename.removesuffix(".gz"))
    folders = [data_dir, *(data_dir / sub for sub in subfolders)]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"{' or '.join(names)} not found in {', '.join(str(f) for f in folders)}. "
        "Put the official files in data_dir (CLI: --data-dir), or leave data_dir unset "
        "to download them."
    )


def read_idx_pair(
    images: Path, labels: Path, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images/labels pair of IDX files and check they belong together.

    Args:
        images: IDX file of shape (N, H, W), uint8.
        labels: IDX file of shape (N,), uint8.
        num_classes: labels must lie in ``0..num_classes-1``.

    Returns:
        ``(x, y)``: x uint8 of shape (N, 1, H, W), y int64 of shape (N,).

    Raises:
        ValueError: wrong dtypes or ranks, different sample counts, labels out of range.
    """
    x = read_idx(images)
    y = read_idx(labels)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"{images}: expected uint8 images (N, H, W), got {x.dtype} {x.shape}.")
    if y.dtype != np.uint8 or y.ndim != 1:
        raise ValueError(f"{labels}: expected uint8 labels (N,), got {y.dtype} {y.shape}.")
    if len(x) != len(y):
        raise ValueError(
            f"{images} holds {len(x)} images but {labels} holds {len(y)} labels; "
            "the two files come from different splits or datasets."
        )
    if y.size and int(y.max()) >= num_classes:
        raise ValueError(f"{labels}: label {int(y.max())} is not below {num_classes}.")
    return x[:, None], y.astype(np.int64)
