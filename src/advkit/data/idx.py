"""Reader and writer for the IDX format of MNIST and Fashion-MNIST.

Problem solved: load the official MNIST-family files (gzip-compressed or plain) into
numpy without third-party loaders, and fail loudly on damaged files instead of returning
silently wrong arrays.

Format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian uint32 dimension sizes, then
the data in C order, big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from advkit.data.idx import read_idx, write_idx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(path).tolist()
    [3, 1, 4]
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXFormatError", "read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file (bad magic number, truncated, trailing data)."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain, detected from its content).

    Args:
        path: file path, e.g. ``t10k-images-idx3-ubyte.gz``.

    Returns:
        Array with the file's shape (e.g. ``(10000, 28, 28)`` uint8 for MNIST test images,
        ``(10000,)`` for labels) in native byte order.

    Raises:
        IDXFormatError: wrong magic number, unknown type code, truncated file (the message
            gives expected and actual sizes) or unexpected trailing bytes.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise IDXFormatError(
                f"{path}: the gzip stream is truncated or corrupted ({err}); "
                "delete the file and download it again."
            ) from err
    if len(raw) < 4:
        raise IDXFormatError(f"{path}: {len(raw)} bytes is too short for an IDX header.")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in _DTYPES or ndim == 0:
        raise IDXFormatError(
            f"{path}: bad IDX magic number {raw[:4].hex()} (expected 0000<type><ndim> with "
            f"type in {sorted(hex(c) for c in _DTYPES)} and ndim >= 1); not an IDX file?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
            f"the file has {len(raw)}."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual < expected:
        raise IDXFormatError(
            f"{path}: truncated IDX file: shape {shape} of {dtype.name} needs {expected} "
            f"data bytes, only {actual} present; delete the file and download it again."
        )
    if actual > expected:
        raise IDXFormatError(
            f"{path}: {actual - expected} unexpected trailing bytes after the IDX data "
            f"of shape {shape}."
        )
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an array as an IDX file, gzip-compressed when ``path`` ends with ``.gz``.

    Args:
        path: destination file.
        array: array with at least one dimension and a dtype among uint8, int8, int16,
            int32, float32, float64.

    Raises:
        ValueError: unsupported dtype or a 0-d array.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in _DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes or array.ndim == 0 or array.ndim > 255:
        raise ValueError(
            f"write_idx: cannot store dtype {array.dtype} with {array.ndim} dims; use one of "
            f"{sorted(str(d) for d in codes)} with 1 to 255 dims."
        )
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
