"""Local dataset files are checked against the official SHA-256 of every known dataset."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from advkit.data import ChecksumError, load_dataset
from advkit.data.idx import write_idx
from advkit.data.verify import OFFICIAL_FILES, verify_local_files
from shared_data import shared_path


def _write_custom_mnist(folder: Path, n: int = 6, gz: bool = True) -> None:
    """A custom MNIST-shaped test split (random pixels): valid IDX, not the official files."""
    suffix = ".gz" if gz else ""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(
        folder / f"t10k-images-idx3-ubyte{suffix}",
        rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
    )
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n).astype(np.uint8))


def test_fashion_mnist_files_given_as_mnist_are_named() -> None:
    folder = shared_path("datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").parent
    with pytest.raises(
        ChecksumError, match=r"Fashion-MNIST's, not MNIST's.*--dataset fashion-mnist"
    ):
        load_dataset("mnist", data_dir=folder, limit=10)
    x, _ = load_dataset("fashion-mnist", data_dir=folder, limit=10)
    assert x.shape == (10, 1, 28, 28)


def test_uncompressed_official_files_are_recognized(tmp_path: Path) -> None:
    """Uncompressed copies (torchvision's MNIST/raw layout) are checked by their content."""
    for name in ("mnist", "fashion-mnist"):
        for kind in ("images-idx3", "labels-idx1"):
            src = shared_path(f"datasets/{name}/t10k-{kind}-ubyte.gz")
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / src.name.removesuffix(".gz")).write_bytes(
                gzip.decompress(src.read_bytes())
            )
    _, y = load_dataset("mnist", data_dir=tmp_path / "mnist", limit=10)
    assert y.tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    with pytest.raises(ChecksumError, match=r"Fashion-MNIST's, not MNIST's"):
        load_dataset("mnist", data_dir=tmp_path / "fashion-mnist")


def test_a_recompressed_official_file_is_accepted(tmp_path: Path) -> None:
    for kind in ("images-idx3", "labels-idx1"):
        src = shared_path(f"datasets/mnist/t10k-{kind}-ubyte.gz")
        content = gzip.decompress(src.read_bytes())
        (tmp_path / src.name).write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    assert load_dataset("mnist", data_dir=tmp_path, limit=3)[1].tolist() == [7, 2, 1]


def test_a_renamed_official_file_is_named(tmp_path: Path) -> None:
    src = shared_path("datasets/mnist/train-labels-idx1-ubyte.gz")
    shutil.copy(src, tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(ChecksumError, match=r"is MNIST's train-labels-idx1-ubyte\.gz"):
        verify_local_files("mnist", [tmp_path / "t10k-labels-idx1-ubyte.gz"])


@pytest.mark.parametrize("gz", [True, False])
def test_a_custom_copy_needs_verify_false(tmp_path: Path, gz: bool) -> None:
    _write_custom_mnist(tmp_path, gz=gz)
    with pytest.raises(ChecksumError, match=r"not the official.*verify=False.*--no-verify-data"):
        load_dataset("mnist", data_dir=tmp_path)
    x, y = load_dataset("mnist", data_dir=tmp_path, verify=False)
    assert x.shape == (6, 1, 28, 28) and y.shape == (6,)


def test_the_message_names_the_file_and_both_digests(tmp_path: Path) -> None:
    _write_custom_mnist(tmp_path)
    with pytest.raises(ChecksumError) as err:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in str(err.value)
    assert "8d422c7b0a1c" in str(err.value)  # the official digest, shortened


def test_every_official_file_is_listed_once_per_dataset() -> None:
    keys = [(f.dataset, f.filename, f.sha256) for f in OFFICIAL_FILES]
    assert len(keys) == len(set(keys))
    for dataset in ("mnist", "fashion-mnist"):
        names = {f.filename for f in OFFICIAL_FILES if f.dataset == dataset}
        assert len(names) == 8  # four files, compressed and not
    cifar = {f.filename for f in OFFICIAL_FILES if f.dataset == "cifar10"}
    assert cifar == {"cifar-10-python.tar.gz", "test_batch"} | {
        f"data_batch_{i}" for i in range(1, 6)
    }
