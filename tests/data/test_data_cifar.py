"""CIFAR-10 batches: the restricted unpickler refuses code, reads genuine batches."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from advkit.data import ChecksumError, load_dataset
from advkit.data.cifar import load_cifar_batch, read_cifar10, restricted_loads


class _Python2Pickler(pickle._Pickler):  # type: ignore[misc]
    """Writes pickles the way Python 2's cPickle wrote the official CIFAR-10 batches.

    Strings become Python 2 ``str`` (BINSTRING opcodes, read back as bytes with
    ``encoding="bytes"``) and numpy globals use their numpy 1.x names (``numpy.core``).
    """

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def python2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def make_batch(n: int, seed: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n)
    batch = {
        "batch_label": f"synthetic batch {seed}",
        "labels": [int(v) for v in labels],
        "data": data,
        "filenames": [f"img_{seed}_{i}.png" for i in range(n)],
    }
    return batch, data.reshape(n, 3, 32, 32), labels


def write_batches(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a tiny CIFAR-10 batches folder (5 train batches of 2, test batch of 3)."""
    folder.mkdir(parents=True)
    expected: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "test": []}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        batch, x, y = make_batch(3 if name == "test_batch" else 2, seed=i)
        (folder / name).write_bytes(python2_pickle(batch))
        expected["test" if name == "test_batch" else "train"].append((x, y))
    return {
        split: (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        for split, parts in expected.items()
    }


class _SystemCall:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_refuses_malicious_reduce(tmp_path: Path, protocol: int):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": _SystemCall(marker)}, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to unpickle global .*system"):
        restricted_loads(payload)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        load_cifar_batch(io.BytesIO(payload))
    assert not marker.exists()


@pytest.mark.parametrize(
    "global_ref",
    [
        b"builtins\neval",
        b"__builtin__\neval",
        b"subprocess\nPopen",
        b"numpy\nload",
        b"numpy.core.multiarray\nscalar",
        b"torch\nload",
        b"posix\nsystem",
    ],
)
def test_refuses_any_other_global(global_ref: bytes):
    payload = b"c" + global_ref + b"\n(S'1+1'\ntR."
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle global"):
        restricted_loads(payload)


def test_reads_python2_style_batch():
    batch, x, y = make_batch(4, seed=7)
    x_read, y_read = load_cifar_batch(io.BytesIO(python2_pickle(batch)))
    assert x_read.dtype == np.uint8
    assert x_read.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(x_read, x)
    np.testing.assert_array_equal(y_read, y)


def test_reads_python3_pickle_with_str_keys():
    batch, x, y = make_batch(2, seed=3)
    payload = pickle.dumps(batch, protocol=4)
    x_read, y_read = load_cifar_batch(io.BytesIO(payload))
    np.testing.assert_array_equal(x_read, x)
    np.testing.assert_array_equal(y_read, y)


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        ([1, 2], "expected a dict"),
        ({b"labels": [1]}, "missing key 'data'"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "2-d uint8"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "3072 bytes"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "1 labels for 2 images"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, r"labels must lie in 0\.\.9"),
    ],
)
def test_rejects_malformed_batches(batch: object, match: str):
    with pytest.raises(ValueError, match=match):
        load_cifar_batch(io.BytesIO(pickle.dumps(batch, protocol=4)), "batch")


def test_reads_folder_and_tarball(tmp_path: Path):
    folder = tmp_path / "cifar-10-batches-py"
    expected = write_batches(folder)
    tarball = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    for source in (folder, tmp_path, tarball):
        for split in ("train", "test"):
            x, y = read_cifar10(source, split)
            np.testing.assert_array_equal(x, expected[split][0])
            np.testing.assert_array_equal(y, expected[split][1])
    only_tar = tmp_path / "only-tar"
    only_tar.mkdir()
    tarball.rename(only_tar / tarball.name)
    x, _ = read_cifar10(only_tar, "test")
    np.testing.assert_array_equal(x, expected["test"][0])


def test_missing_batches_explain_where_to_get_them(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-python\.tar\.gz from https://"):
        read_cifar10(tmp_path, "test")


def test_load_dataset_cifar10_from_data_dir(tmp_path: Path):
    expected = write_batches(tmp_path / "cifar-10-batches-py")
    x, y = load_dataset("cifar10", split="all", data_dir=tmp_path, verify=False)
    assert x.shape == (13, 3, 32, 32)
    assert x.dtype == torch.float32
    assert y.dtype == torch.int64
    all_x = np.concatenate([expected["train"][0], expected["test"][0]])
    torch.testing.assert_close(x, torch.from_numpy(all_x).float() / 255)
    x_test, _ = load_dataset("cifar10", split="test", data_dir=tmp_path, limit=2, verify=False)
    assert x_test.shape == (2, 3, 32, 32)


def test_load_dataset_checks_cifar10_files_before_unpickling(tmp_path: Path):
    folder = tmp_path / "cifar-10-batches-py"
    write_batches(folder)
    with pytest.raises(ChecksumError, match=r"test_batch is not the official.*--no-verify-data"):
        load_dataset("cifar10", split="test", data_dir=tmp_path)
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps({"data": _SystemCall(marker)}))
    with pytest.raises(ChecksumError, match="test_batch is not the official"):
        load_dataset("cifar10", split="test", data_dir=tmp_path)
    assert not marker.exists()
    shutil.rmtree(folder)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz"):
        pass
    with pytest.raises(ChecksumError, match=r"cifar-10-python\.tar\.gz is not the official"):
        load_dataset("cifar10", split="test", data_dir=tmp_path)
