"""Writing the examples file a row at a time, so that memory follows one example.

Problem solved: the examples of a long evaluation (50,000 ImageNet images, most of them
broken) do not fit in memory at once, and ``safetensors.torch.save`` needs every tensor
whole. The safetensors format is simple (an 8-byte little-endian header length, a JSON
header naming each tensor's dtype, shape and byte range, then the tensors' bytes back to
back), so :func:`write_examples` writes it directly: the header from one pass over the
examples' small fields, then ``x_adv`` row by row, then ``logits`` row by row. The file
reads back with ``safetensors.safe_open`` like any other.

Example:
    >>> import tempfile, pathlib, torch
    >>> from safetensors.torch import load_file
    >>> from advkit.evaluate.examples import AdversarialExample
    >>> from advkit.evaluate.examples_writer import write_examples
    >>> ex = AdversarialExample(3, "apgd-ce", 0.1, 0.1, torch.ones(1, 2, 2), torch.zeros(10))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.adv.safetensors"
    >>> len(write_examples(path, {3: ex}, "advkit-adversarial-examples/1"))
    64
    >>> load_file(path)["x_adv"].shape
    torch.Size([1, 1, 2, 2])
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import torch
from torch import Tensor

if TYPE_CHECKING:
    from advkit.evaluate.examples import AdversarialExample

__all__ = ["write_examples"]

_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
}


def write_examples(path: Path, examples: Mapping[int, AdversarialExample], layout: str) -> str:
    """Write ``examples`` (by sample index, in index order) to ``path``; the file's sha256.

    ``examples`` is read three times (its small fields, the points, the logits) and never
    held whole: a mapping that reads each example on demand (a store's) keeps memory at
    one example.
    """
    order = sorted(examples)
    attacks, distance, eps = [], [], []
    shape: tuple[int, ...] = ()
    classes, dtype = 0, torch.float32
    for i in order:
        ex = examples[i]
        attacks.append(ex.attack)
        distance.append(ex.distance)
        eps.append(ex.eps)
        shape, dtype, classes = tuple(ex.x_adv.shape), ex.x_adv.dtype, int(ex.logits.numel())
    rows = len(order)
    parts: list[tuple[str, torch.dtype, tuple[int, ...]]] = [
        ("index", torch.int64, (rows,)),
        ("x_adv", dtype, (rows, *shape) if rows else (0,)),
        ("logits", torch.float32, (rows, classes) if rows else (0,)),
        ("distance", torch.float64, (rows,)),
        ("eps", torch.float64, (rows,)),
    ]
    meta = json.dumps({"layout": layout, "attacks": attacks})
    with path.open("wb") as raw:
        out = _Hashed(raw)
        out.write(_header(parts, meta))
        out.write(_bytes(torch.tensor(order, dtype=torch.int64)))
        for i in order:
            out.write(_bytes(examples[i].x_adv.to(dtype)))
        for i in order:
            out.write(_bytes(examples[i].logits.float()))
        out.write(_bytes(torch.tensor(distance, dtype=torch.float64)))
        out.write(_bytes(torch.tensor(eps, dtype=torch.float64)))
    return out.hexdigest()


def _header(parts: list[tuple[str, torch.dtype, tuple[int, ...]]], meta: str) -> bytes:
    """The length-prefixed JSON header, padded with spaces to a multiple of 8 bytes."""
    header: dict[str, object] = {"__metadata__": {"advkit": meta}}
    start = 0
    for name, dtype, shape in parts:
        size = dtype.itemsize
        for n in shape:
            size *= n
        header[name] = {
            "dtype": _DTYPES[dtype],
            "shape": list(shape),
            "data_offsets": [start, start + size],
        }
        start += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def _bytes(t: Tensor) -> bytes:
    """A tensor's bytes in C order, little-endian (as safetensors stores them)."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy().tobytes()


class _Hashed:
    """A binary file that hashes what is written to it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        self.digest.update(data)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
