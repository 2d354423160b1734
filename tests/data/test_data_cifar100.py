"""CIFAR-100: files in the official python format, read from a folder or the tarball."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from advkit.data import DATASETS, ChecksumError, load_dataset, open_dataset
from advkit.data.cifar100 import read_cifar100


def cifar100_file(n: int, seed: int, top: int = 100) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A CIFAR-100 ``train``/``test`` pickle of ``n`` images (byte keys, as published)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    fine = rng.integers(0, top, size=n)
    batch = {
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        b"batch_label": b"synthetic",
        b"fine_labels": [int(v) for v in fine],
        b"coarse_labels": [int(v) % 20 for v in fine],
        b"data": data,
    }
    return pickle.dumps(batch, protocol=4), data.reshape(n, 3, 32, 32), fine


def write_folder(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    expected = {}
    for seed, (split, n) in enumerate([("train", 5), ("test", 3)]):
        raw, x, y = cifar100_file(n, seed)
        (folder / split).write_bytes(raw)
        expected[split] = (x, y)
    return expected


def test_folder_and_tarball_give_the_official_arrays(tmp_path: Path):
    expected = write_folder(tmp_path / "extracted")
    tarball = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "extracted" / "cifar-100-python", arcname="cifar-100-python")
    for source in (tmp_path / "extracted", tarball):
        for split, (x, y) in expected.items():
            got_x, got_y = read_cifar100(source, split)
            np.testing.assert_array_equal(got_x, x)
            np.testing.assert_array_equal(got_y, y)


def test_load_dataset_shapes_labels_and_range(tmp_path: Path):
    expected = write_folder(tmp_path)
    x, y = load_dataset("cifar100", "all", data_dir=tmp_path, verify=False)
    assert x.shape == (8, *DATASETS["cifar100"].input_shape)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    np.testing.assert_array_equal(
        y.numpy(), np.concatenate([expected["train"][1], expected["test"][1]])
    )
    np.testing.assert_allclose(x[:5].numpy() * 255, expected["train"][0], atol=1e-3)
    ds = open_dataset("cifar100", "test", tmp_path, verify=False)
    image, label = ds[2]
    assert image.shape == (3, 32, 32) and label == int(expected["test"][1][2])
    assert len(DATASETS["cifar100"].classes) == 100


def test_custom_copy_refused_unless_verify_off(tmp_path: Path):
    write_folder(tmp_path)
    with pytest.raises(
        ChecksumError, match=r"not the official CIFAR-100 file test.*no-verify-data"
    ):
        load_dataset("cifar100", data_dir=tmp_path)


def test_label_out_of_range_is_an_error(tmp_path: Path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    raw, _, _ = cifar100_file(4, 0, top=100)
    batch = pickle.loads(raw)
    batch[b"fine_labels"][1] = 100
    (folder / "test").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.99, got \d+\.\.100"):
        read_cifar100(tmp_path, "test")


def test_missing_files_say_where_to_get_them(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"cifar-100-python\.tar\.gz from https"):
        read_cifar100(tmp_path, "test")


def test_a_cifar10_batch_is_not_cifar100(tmp_path: Path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    (folder / "test").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(ValueError, match="missing key 'fine_labels'"):
        read_cifar100(tmp_path, "test")
