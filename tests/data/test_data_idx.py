"""IDX reader/writer: round trips, and clear errors on damaged files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from advkit.data.idx import IDXFormatError, read_idx, write_idx
from shared_data import shared_path

_DTYPES = st.sampled_from(["uint8", "int8", ">i2", "<i4", "float32", "float64"])


@settings(max_examples=40, deadline=None)
@given(
    array=hnp.arrays(
        dtype=_DTYPES,
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements={"allow_nan": False},
    ),
    compress=st.booleans(),
)
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, array: np.ndarray, compress: bool):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    out = read_idx(path)
    assert out.shape == array.shape
    assert out.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, array)


def test_gzip_detected_from_content_not_name(tmp_path: Path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.gz", array)
    renamed = tmp_path / "plain-name"
    renamed.write_bytes((tmp_path / "a.gz").read_bytes())
    np.testing.assert_array_equal(read_idx(renamed), array)


def _idx_bytes(array: np.ndarray, tmp_path: Path) -> bytes:
    write_idx(tmp_path / "tmp.idx", array)
    return (tmp_path / "tmp.idx").read_bytes()


def test_truncated_data_names_sizes(tmp_path: Path):
    raw = _idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8), tmp_path)
    (tmp_path / "cut.idx").write_bytes(raw[:-100])
    with pytest.raises(IDXFormatError, match=r"truncated IDX file.*7840 data bytes.*7740"):
        read_idx(tmp_path / "cut.idx")


def test_truncated_header(tmp_path: Path):
    raw = _idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8), tmp_path)
    (tmp_path / "cut.idx").write_bytes(raw[:9])
    with pytest.raises(IDXFormatError, match="truncated IDX header"):
        read_idx(tmp_path / "cut.idx")


def test_truncated_gzip_stream(tmp_path: Path):
    raw = gzip.compress(_idx_bytes(np.arange(5000, dtype=np.int32), tmp_path))
    (tmp_path / "cut.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(IDXFormatError, match="gzip stream is truncated"):
        read_idx(tmp_path / "cut.gz")


def test_trailing_bytes(tmp_path: Path):
    raw = _idx_bytes(np.zeros(4, dtype=np.uint8), tmp_path)
    (tmp_path / "long.idx").write_bytes(raw + b"\x00\x00")
    with pytest.raises(IDXFormatError, match="2 unexpected trailing bytes"):
        read_idx(tmp_path / "long.idx")


@pytest.mark.parametrize("header", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00"])
def test_bad_magic(tmp_path: Path, header: bytes):
    (tmp_path / "bad.idx").write_bytes(header + b"\x00\x00\x00\x01\x05")
    with pytest.raises(IDXFormatError, match="bad IDX magic number"):
        read_idx(tmp_path / "bad.idx")


def test_write_rejects_unsupported_dtype(tmp_path: Path):
    with pytest.raises(ValueError, match="cannot store dtype int64"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.int64))


def test_reads_official_mnist_labels():
    labels = read_idx(shared_path("datasets/mnist/t10k-labels-idx1-ubyte.gz"))
    assert labels.shape == (10000,)
    assert labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
