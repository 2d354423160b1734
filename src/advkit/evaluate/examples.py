"""The adversarial examples an evaluation keeps as evidence, and their safetensors file.

Problem solved: a robust accuracy is a claim about examples nobody can see unless they
are kept. :func:`advkit.evaluate` keeps, for every sample an attack broke, the
:class:`AdversarialExample` that broke it (``Evaluation.examples``), and ``advkit
evaluate`` writes them beside the results JSON (``run.json`` → ``run.adv.safetensors``,
:func:`examples_path`), where ``advkit verify`` re-checks them.

One example per sample: the one found at the smallest ε of the run that broke the sample.
It lies in every larger ball too, so it serves every larger ε of the accuracy-vs-ε curve.
Samples the model misclassifies without any perturbation (``broken_by == "clean"``) need
no example: their clean input is the evidence.

The file's layout (M examples, sorted by sample index; plain safetensors, readable with
``safetensors.torch.load_file``):

- ``index`` (M,) int64: the samples' positions in the evaluated data;
- ``x_adv`` (M, *input shape): the examples, in the dtype the model saw;
- ``logits`` (M, K) float32: the model's logits at them during the evaluation;
- ``distance`` (M,) float64: ‖x_adv − x‖ in the threat's norm, as the evaluation measured;
- ``eps`` (M,) float64: the smallest ε of the run at which the example broke the sample;
- metadata ``"advkit"``: a JSON string ``{"layout": "advkit-adversarial-examples/1",
  "attacks": [...]}``, the name of the attack that found each example, in row order
  (``"check:<name>"`` for a gradient-masking check).

With no example (M = 0) the tensors are empty. Writing the same examples gives the same
bytes, so a file's sha256 identifies its content.

Example:
    >>> import tempfile, pathlib, torch
    >>> from advkit.evaluate.examples import AdversarialExample, load_examples, save_examples
    >>> ex = AdversarialExample(3, "apgd-ce", 0.1, 0.1, torch.zeros(1, 2, 2), torch.zeros(10))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.adv.safetensors"
    >>> len(save_examples(path, {3: ex}))  # the file's sha256
    64
    >>> load_examples(path)[3].attack
    'apgd-ce'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load, save
from torch import Tensor

from advkit.evaluate.examples_writer import write_examples

__all__ = [
    "LAYOUT",
    "AdversarialExample",
    "example_blob",
    "examples_path",
    "file_sha256",
    "load_examples",
    "save_examples",
    "x_and_logits",
]

LAYOUT = "advkit-adversarial-examples/1"
"""The layout name written in the file's metadata."""

SUFFIX = ".adv.safetensors"

_NAMES = ("index", "x_adv", "logits", "distance", "eps")


@dataclass(frozen=True, eq=False)
class AdversarialExample:
    """The example that broke one sample.

    Attributes:
        index: the sample's position in the evaluated data.
        attack: the name of the attack that found it (``"check:<name>"`` for a
            gradient-masking check).
        distance: ‖x_adv − x‖ in the threat's norm, as the evaluation measured it.
        eps: the smallest ε of the run at which it broke the sample.
        x_adv: the example (one sample's shape), in the dtype the model saw.
        logits: (K,) the model's logits at ``x_adv`` during the evaluation.
    """

    index: int
    attack: str
    distance: float
    eps: float
    x_adv: Tensor
    logits: Tensor


def examples_path(results: Path) -> Path:
    """Where the examples of the results file ``results`` lie: ``run.json`` →
    ``run.adv.safetensors``, in the same folder."""
    return results.with_name(results.stem + SUFFIX)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_examples(path: Path, examples: Mapping[int, AdversarialExample]) -> str:
    """Write ``examples`` (by sample index) to ``path`` in the layout above, one example
    at a time (:mod:`advkit.evaluate.examples_writer`: a mapping that reads examples on
    demand, as a store's does, is never held whole).

    Returns:
        The sha256 of the file written.
    """
    return write_examples(path, examples, LAYOUT)


def load_examples(path: Path) -> Mapping[int, AdversarialExample]:
    """The examples of a file written by :func:`save_examples`, by sample index; each
    example's point and logits are read from the file when it is looked up.

    Raises:
        ValueError: the file is not a safetensors file of this layout.
    """
    return _ExampleFile(path)


class _ExampleFile(Mapping[int, AdversarialExample]):
    """An examples file as a mapping: the small fields read at once, the rows on demand
    (the file opened for each lookup, so the mapping holds no file open)."""

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        try:
            with safe_open(self._path, framework="pt", device="cpu") as f:
                meta = json.loads((f.metadata() or {})["advkit"])
                layout, attacks = meta.get("layout"), list(meta.get("attacks", []))
                rows = {name: f.get_slice(name).get_shape()[0] for name in _NAMES}
                small = {name: f.get_tensor(name) for name in ("index", "distance", "eps")}
        except (SafetensorError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{path} is not a file of advkit's adversarial examples ({err}); give the "
                f"{SUFFIX} file that advkit evaluate wrote beside the results"
            ) from err
        if layout != LAYOUT:
            raise ValueError(
                f"{path} has the layout {layout!r}, not {LAYOUT!r}; read it with "
                "the advkit version that wrote it"
            )
        if len({*rows.values(), len(attacks)}) != 1:
            raise ValueError(
                f"{path} holds tensors of different lengths ({rows}); it was not written by "
                "advkit evaluate: give the file it wrote"
            )
        self._attacks = attacks
        self._distance = small["distance"].tolist()
        self._eps = small["eps"].tolist()
        self._rows = {i: row for row, i in enumerate(small["index"].tolist())}

    def __getitem__(self, i: int) -> AdversarialExample:
        row = self._rows[i]
        with (
            torch.device("cpu"),  # read into CPU memory whatever the default device
            safe_open(self._path, framework="pt", device="cpu") as f,
        ):
            x_adv = f.get_slice("x_adv")[row : row + 1][0]
            logits = f.get_slice("logits")[row : row + 1][0]
        return AdversarialExample(
            i, self._attacks[row], self._distance[row], self._eps[row], x_adv, logits
        )

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def example_blob(x_adv: Tensor, logits: Tensor) -> bytes:
    """One example's point and logits as bytes (a small safetensors file), for a store."""
    return save({"x_adv": x_adv.contiguous(), "logits": logits.float().contiguous()})


def x_and_logits(blob: bytes) -> tuple[Tensor, Tensor]:
    """The point and logits of :func:`example_blob`'s bytes."""
    with torch.device("cpu"):  # into CPU memory whatever the default device
        tensors = load(blob)
    return tensors["x_adv"], tensors["logits"]
