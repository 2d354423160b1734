"""SQLite results store: per-sample evaluation records, keyed by (ε, sample index), and
the adversarial example of every sample broken at that ε.

Keying by sample index makes evaluations resumable (finished batches are read back, not
recomputed) and lets shards of one evaluation write into the same store. A store holds
one configuration: reopening it with another raises :class:`StoreMismatch`, and so does
a model whose probe outputs differ from the stored ones, or whose identity advkit cannot
establish (:mod:`advkit.evaluate.fingerprint`). One run at a time holds the store
(:class:`~advkit.store_lock.StoreLock`); another waits, then reads its batches back.

Example:
    >>> import tempfile, pathlib
    >>> from advkit.evaluate.records import SampleRecord
    >>> from advkit.store import ResultStore
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.sqlite"
    >>> store = ResultStore(path, {"seed": 0})
    >>> store.load(0.1, [0, 1]) is None
    True
    >>> store.save(0.1, [SampleRecord.start(0, 3, 3), SampleRecord.start(1, 2, 5)])
    >>> [r.broken_by for r in store.load(0.1, [0, 1])]
    [None, 'clean']
    >>> store.load_examples(0.1, [0])
    {}
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import astuple, fields, replace
from pathlib import Path
from typing import Any

from advkit.evaluate.examples import AdversarialExample, example_blob, x_and_logits
from advkit.evaluate.fingerprint import ModelIdentity
from advkit.evaluate.records import SampleRecord
from advkit.store_lock import StoreLock

__all__ = ["FIELDS", "ResultStore", "StoreMismatch"]

FIELDS = tuple(f.name for f in fields(SampleRecord) if f.name != "index")
"""The columns of a sample row after ``eps`` and ``idx`` (the record's ``index``)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    eps REAL NOT NULL,
    idx INTEGER NOT NULL,
    label INTEGER NOT NULL,
    clean_pred INTEGER NOT NULL,
    robust INTEGER NOT NULL,
    broken_by TEXT,
    distance REAL,
    queries INTEGER NOT NULL,
    gradient_calls INTEGER NOT NULL,
    clever REAL,
    margin_radius REAL,
    PRIMARY KEY (eps, idx)
);
CREATE TABLE IF NOT EXISTS examples (
    eps REAL NOT NULL,
    idx INTEGER NOT NULL,
    attack TEXT NOT NULL,
    distance REAL NOT NULL,
    point BLOB NOT NULL,
    PRIMARY KEY (eps, idx)
);
CREATE INDEX IF NOT EXISTS examples_by_sample ON examples (idx, eps);
"""


class StoreMismatch(ValueError):
    """The store at this path holds results of a different configuration."""


class ResultStore:
    """Per-sample records of one evaluation configuration in one SQLite file.

    Opening takes the store's lock (waiting while another run holds it); :meth:`close`
    releases it.

    Args:
        path: the database file (created if absent).
        config: a JSON-serializable description of the run; reopening a store with a
            different config raises :class:`StoreMismatch` instead of mixing results.
        model: the model's identity: its probe outputs must match the stored ones, and a
            store is never reused for a model of unknown identity.
    """

    def __init__(
        self, path: str | Path, config: dict[str, Any], model: ModelIdentity | None = None
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._lock: StoreLock | None = None
        try:
            self._db.executescript(_SCHEMA)
            self._check(config, model, claim=False)  # fail fast, without waiting
            self._lock = StoreLock(self.path)
            self._check(config, model, claim=True)
        except BaseException:
            self.close()
            raise

    def _check(self, config: dict[str, Any], model: ModelIdentity | None, claim: bool) -> None:
        """Raise :class:`StoreMismatch` unless the store holds this run; ``claim`` an
        empty store for it (under the lock)."""
        wanted = json.dumps(config, sort_keys=True)
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "config" not in meta:
            if claim:
                outputs = None if model is None else model.outputs
                rows = [("config", wanted), ("outputs", json.dumps(outputs))]
                with self._db:
                    self._db.executemany("INSERT INTO meta VALUES (?, ?)", rows)
            return
        if meta["config"] != wanted:
            raise StoreMismatch(
                f"{self.path} holds results of a different evaluation "
                f"({_differing(meta['config'], config)} differ); choose another output "
                "path or delete it"
            )
        if model is not None and model.unknown is not None:
            raise StoreMismatch(
                f"{self.path} holds results that advkit cannot tie to this model: it cannot "
                f"establish the model's identity ({model.unknown}), so it never reuses them; "
                "choose another output path or delete it"
            )
        if model is not None and not model.same_outputs(_floats(meta.get("outputs", "null"))):
            raise StoreMismatch(
                f"{self.path} holds results of a different evaluation: the model has the "
                "same weights and layers but computes other outputs on the probe batch "
                "(another function); choose another output path or delete it"
            )

    def load(self, eps: float, indices: list[int]) -> list[SampleRecord] | None:
        """Records for these sample indices at ε, in order, or None if any is missing."""
        cols = ", ".join(("idx", *FIELDS))
        found: dict[int, SampleRecord] = {}
        for start in range(0, len(indices), 500):
            chunk = indices[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cur = self._db.execute(
                f"SELECT {cols} FROM samples WHERE eps=? AND idx IN ({marks})",
                (eps, *chunk),
            )
            for row in cur:  # idx, then FIELDS: the record's fields in order
                rec = SampleRecord(*row)
                found[rec.index] = replace(rec, robust=bool(rec.robust))  # SQLite has 0/1
        if len(found) != len(indices):
            return None
        return [found[i] for i in indices]

    def load_examples(self, eps: float, indices: list[int]) -> dict[int, AdversarialExample]:
        """The stored example of each of these samples found at the smallest ε ≤ ``eps``
        (it lies in the ball of ``eps`` too); samples without one are left out."""
        found: dict[int, AdversarialExample] = {}
        for start in range(0, len(indices), 500):
            chunk = indices[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cur = self._db.execute(
                "SELECT idx, attack, distance, eps, point FROM examples "
                f"WHERE eps<=? AND idx IN ({marks}) ORDER BY eps",
                (eps, *chunk),
            )
            for idx, attack, distance, found_at, point in cur:
                if idx not in found:
                    found[idx] = AdversarialExample(
                        idx, attack, distance, found_at, *x_and_logits(point)
                    )
        return found

    def save(
        self, eps: float, records: list[SampleRecord], examples: Sequence[AdversarialExample] = ()
    ) -> None:
        """Write one batch's records at ε, and the examples found at ε, atomically (all
        or nothing)."""
        rows = [(eps, *astuple(rec)) for rec in records]
        marks = ",".join("?" * (2 + len(FIELDS)))
        points = [
            (eps, ex.index, ex.attack, ex.distance, example_blob(ex.x_adv, ex.logits))
            for ex in examples
        ]
        with self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO samples VALUES ({marks})", rows)
            self._db.executemany("INSERT OR REPLACE INTO examples VALUES (?,?,?,?,?)", points)

    def close(self) -> None:
        """Close the database and release the store's lock."""
        self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _differing(stored: str, wanted: dict[str, Any]) -> str:
    """The names of the configuration entries that differ (e.g. "model, seed")."""
    try:
        old = json.loads(stored)
    except json.JSONDecodeError:
        return "the configuration"
    if not isinstance(old, dict):
        return "the configuration"
    new = json.loads(json.dumps(wanted))  # tuples as lists, as stored
    return ", ".join(sorted(k for k in {*old, *new} if old.get(k) != new.get(k)))


def _floats(text: str) -> tuple[float, ...] | None:
    """Stored probe outputs (JSON) as a tuple, or None."""
    values = json.loads(text)
    return None if values is None else tuple(float(v) for v in values)
