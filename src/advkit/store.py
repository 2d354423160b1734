"""SQLite results store: per-sample evaluation records, keyed by (ε, sample index).

Keying by sample index makes evaluations resumable (finished batches are read back, not
recomputed) and lets shards of one evaluation write into the same store.

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
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import astuple, fields, replace
from pathlib import Path
from typing import Any

from advkit.evaluate.records import SampleRecord

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
    PRIMARY KEY (eps, idx)
);
"""


class StoreMismatch(ValueError):
    """The store at this path holds results of a different configuration."""


class ResultStore:
    """Per-sample records of one evaluation configuration in one SQLite file.

    Args:
        path: the database file (created if absent).
        config: a JSON-serializable description of the run; reopening a store with a
            different config raises :class:`StoreMismatch` instead of mixing results.
    """

    def __init__(self, path: str | Path, config: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.executescript(_SCHEMA)
        wanted = json.dumps(config, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
        if row is None:
            with self._db:
                self._db.execute("INSERT INTO meta VALUES ('config', ?)", (wanted,))
        elif row[0] != wanted:
            raise StoreMismatch(
                f"{self.path} holds results of a different evaluation (model, data, "
                "threat, suite or seed differ); choose another output path or delete it"
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

    def save(self, eps: float, records: list[SampleRecord]) -> None:
        """Write one batch's records at ε atomically (all or nothing)."""
        rows = [(eps, *astuple(rec)) for rec in records]
        marks = ",".join("?" * (2 + len(FIELDS)))
        with self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO samples VALUES ({marks})", rows)

    def close(self) -> None:
        self._db.close()
