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
import math
import struct
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import torch
from torch import Tensor

if TYPE_CHECKING:
    from advkit.evaluate.examples import AdversarialExample

__all__ = ["write_examples"]

_DTYPES = {  # safetensors' name and its rank in safetensors' dtype order
    torch.float16: ("F16", 11),
    torch.bfloat16: ("BF16", 12),
    torch.float32: ("F32", 15),
    torch.float64: ("F64", 16),
    torch.int64: ("I64", 17),
}

Rows = Callable[[], Iterator[Tensor]]
"""One tensor's rows, in order (called once, when the tensor's bytes are written)."""


def write_examples(path: Path, examples: Mapping[int, AdversarialExample], layout: str) -> str:
    """Write ``examples`` (by sample index, in index order) to ``path``; the file's sha256.

    The bytes are those ``safetensors.torch.save`` writes for the same tensors (tensors
    ordered by dtype, then name; the header padded to 8 bytes), so a file's sha256 does
    not depend on how it was written. ``examples`` is read three times (its small fields,
    the points, the logits) and never held whole: a mapping that reads each example on
    demand (a store's) keeps memory at one example.

    Raises:
        ValueError: the examples differ in shape or in their number of classes.
    """
    order = sorted(examples)
    attacks, distance, eps = [], [], []
    shapes, classes, dtype = set(), set(), torch.float32
    for k, i in enumerate(order):
        ex = examples[i]
        attacks.append(ex.attack)
        distance.append(ex.distance)
        eps.append(ex.eps)
        shapes.add(tuple(ex.x_adv.shape))
        classes.add(int(ex.logits.numel()))
        dtype = ex.x_adv.dtype if k == 0 else torch.promote_types(dtype, ex.x_adv.dtype)
    if len(shapes) > 1 or len(classes) > 1:
        raise ValueError(
            f"the examples differ in shape ({sorted(shapes)}) or number of classes "
            f"({sorted(classes)}): they do not belong to one evaluation"
        )
    rows = len(order)
    shape, k = (shapes.pop(), classes.pop()) if rows else ((), 0)
    cpu = torch.device("cpu")
    small = {
        "index": torch.tensor(order, dtype=torch.int64, device=cpu),
        "distance": torch.tensor(distance, dtype=torch.float64, device=cpu),
        "eps": torch.tensor(eps, dtype=torch.float64, device=cpu),
    }
    parts: list[tuple[str, torch.dtype, tuple[int, ...], Rows]] = [
        *((name, t.dtype, tuple(t.shape), lambda t=t: iter([t])) for name, t in small.items()),
        (
            "x_adv",
            dtype,
            (rows, *shape) if rows else (0,),
            lambda: (examples[i].x_adv.to(dtype) for i in order),
        ),
        (
            "logits",
            torch.float32,
            (rows, k) if rows else (0,),
            lambda: (examples[i].logits.float() for i in order),
        ),
    ]
    parts.sort(key=lambda part: (-_DTYPES[part[1]][1], part[0]))
    meta = json.dumps({"layout": layout, "attacks": attacks})
    with path.open("wb") as raw:
        out = _Hashed(raw)
        out.write(_header(parts, meta))
        for *_, rows_of in parts:
            for row in rows_of():
                out.write(_bytes(row))
    return out.hexdigest()


def _header(parts: list[tuple[str, torch.dtype, tuple[int, ...], Rows]], meta: str) -> bytes:
    """The length-prefixed JSON header, padded with spaces to a multiple of 8 bytes."""
    header: dict[str, object] = {"__metadata__": {"advkit": meta}}
    start = 0
    for name, dtype, shape, _ in parts:
        size = dtype.itemsize * math.prod(shape)
        header[name] = {
            "dtype": _DTYPES[dtype][0],
            "shape": list(shape),
            "data_offsets": [start, start + size],
        }
        start += size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def _bytes(t: Tensor) -> bytes:
    """A tensor's bytes in C order, little-endian (as safetensors stores them)."""
    raw = t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
    if sys.byteorder == "big" and t.element_size() > 1:
        raw = raw.reshape(-1, t.element_size()).flip(1).reshape(-1)
    return raw.numpy().tobytes()


class _Hashed:
    """A binary file that hashes what is written to it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        self.digest.update(data)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
