"""A certification's finished batches in SQLite, so that a stopped run resumes.

:func:`advkit.certify` with ``store=`` saves each batch's margin lower bounds and
candidate counterexamples as soon as the batch is bounded, and reads the stored batches
back on the next run instead of bounding them again. The store is a
:class:`~advkit.store.ResultStore` (one configuration per file, checked on opening, one
run at a time) with a table of batches: reopening it for another model, data, threat,
certifier or batch size raises :class:`~advkit.store.StoreMismatch`.

Example:
    >>> import tempfile, pathlib, torch, advkit
    >>> from advkit.certify.store import open_bounds
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(3, 4)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cert.sqlite"
    >>> store = open_bounds(path, model, x, torch.tensor([0, 1, 0]), advkit.Linf(0.1),
    ...                     advkit.IBP(), batch_size=2)
    >>> store.save_bounds(0, torch.zeros(2, 2), x[:2])
    >>> sorted(store.load_bounds())
    [0]
    >>> store.close()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors.torch import load, save
from torch import Tensor, nn

from advkit.evaluate.fingerprint import model_identity, tensor_digest
from advkit.store import ResultStore
from advkit.threat import ThreatModel

__all__ = ["BoundStore", "open_bounds"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bounds (start INTEGER PRIMARY KEY, tensors BLOB NOT NULL);
"""


class BoundStore(ResultStore):
    """The batches a certification finished: (N, K) margin lower bounds and (N, ...)
    candidate counterexamples per batch, keyed by the batch's first sample index."""

    def __init__(self, path: str | Path, config: dict[str, Any], model: Any = None) -> None:
        super().__init__(path, config, model)
        self._db.executescript(_SCHEMA)

    def load_bounds(self) -> dict[int, tuple[Tensor, Tensor]]:
        """Every stored batch: its first index -> (lower bounds, counterexamples)."""
        rows = self._db.execute("SELECT start, tensors FROM bounds ORDER BY start")
        return {start: _bounds(blob) for start, blob in rows}

    def save_bounds(self, start: int, lower: Tensor, adv: Tensor) -> None:
        """Store one batch (atomically)."""
        tensors = {"lower": lower.detach().cpu().contiguous(), "adv": adv.detach().cpu()}
        blob = save({k: t.contiguous() for k, t in tensors.items()})  # exact, any dtype
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO bounds VALUES (?, ?)", (start, blob))


def _bounds(blob: bytes) -> tuple[Tensor, Tensor]:
    """(lower bounds, counterexamples) of a stored batch."""
    tensors = load(blob)
    return tensors["lower"], tensors["adv"]


def open_bounds(
    path: str | Path,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Any,
    batch_size: int,
) -> BoundStore:
    """The store at ``path`` for this certification (waits while another run holds it)."""
    identity = model_identity(model, x, threat.lo, threat.hi)
    config = {
        "task": "certify",
        "model": identity.key,
        "data": tensor_digest(x, y),
        "threat": repr(threat),
        "method": repr(method),
        "batch_size": batch_size,
    }
    return BoundStore(path, config, identity)
