"""An evaluation's adversarial examples read from its store when looked up.

Problem solved: the examples of a long evaluation (tens of thousands of broken samples,
150 KB each on ImageNet) need not sit in memory: the evaluation's SQLite store
(:class:`~advkit.store.ResultStore`) already holds every one of them. With a store,
:func:`advkit.evaluate` returns ``Evaluation.examples`` as a :class:`StoredExamples`
mapping: the same keys and values as the in-memory dict, each example read from the
store when it is looked up, so writing the examples file
(:func:`~advkit.evaluate.examples.save_examples`) or re-checking them
(:func:`~advkit.evaluate.verify.verify_evaluation`) holds one example at a time.

Example:
    >>> import tempfile, pathlib, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(20, 1, 8, 8), torch.randint(0, 10, (20,))
    >>> store = pathlib.Path(tempfile.mkdtemp()) / "run.sqlite"
    >>> ev = advkit.evaluate(model, (x, y), advkit.Linf(0.3), "fast", store=store, progress=False)
    >>> type(ev.examples).__name__, all(ev.examples[i].index == i for i in ev.examples)
    ('StoredExamples', True)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path

from advkit.evaluate.examples import AdversarialExample, x_and_logits

__all__ = ["StoredExamples"]


class StoredExamples(Mapping[int, AdversarialExample]):
    """The examples of an evaluation by sample index, read from its store on lookup.

    The store's configuration and the ε values it holds examples for are read when the
    mapping is made: a lookup refuses a store that another evaluation replaced, and never
    returns an example a later run added (at another ε) to the same store. Each lookup
    opens and closes its own read-only connection, so the mapping holds no file open.

    Args:
        path: the evaluation's SQLite store.
        found_at: for each sample an attack broke, the smallest ε of the evaluation at
            which it was broken (its example is the stored one at the smallest ε up to it).
        extra: examples held in memory instead (those of the gradient-masking checks).
    """

    def __init__(
        self,
        path: str | Path,
        found_at: Mapping[int, float],
        extra: Mapping[int, AdversarialExample],
    ) -> None:
        self.path = Path(path).resolve()
        self._found_at = dict(found_at)
        self._extra = dict(extra)
        self._keys = sorted({*self._found_at, *self._extra})
        with closing(self._connect()) as db:
            self._meta = _meta(db)
            self._eps = sorted(e for (e,) in db.execute("SELECT DISTINCT eps FROM examples"))

    def __getitem__(self, i: int) -> AdversarialExample:
        if i in self._extra:
            return self._extra[i]
        found = self._found_at[i]  # KeyError for a sample without an example
        eps = [e for e in self._eps if e <= found]
        marks = ",".join("?" * len(eps))
        with closing(self._connect()) as db:
            if _meta(db) != self._meta:
                raise LookupError(
                    f"the store {self.path} now holds another evaluation's results: the "
                    "examples of this one are gone; evaluate again"
                )
            row = db.execute(
                "SELECT attack, distance, eps, point FROM examples "
                f"WHERE idx=? AND eps IN ({marks}) ORDER BY eps LIMIT 1",
                (i, *eps),
            ).fetchone()
        if row is None:
            raise LookupError(
                f"the store {self.path} no longer holds the adversarial example of sample {i} "
                "(it was replaced or changed after the evaluation): evaluate again"
            )
        attack, distance, at, point = row
        return AdversarialExample(i, attack, distance, at, *x_and_logits(point))

    def __contains__(self, i: object) -> bool:
        return i in self._found_at or i in self._extra

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def _connect(self) -> sqlite3.Connection:
        """A read-only connection to the store."""
        if not self.path.is_file():
            raise LookupError(
                f"the store {self.path} that holds this evaluation's adversarial examples "
                "is gone: keep it until the examples are written, or evaluate again"
            )
        return sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)


def _meta(db: sqlite3.Connection) -> dict[str, str]:
    """The store's configuration rows (what ties it to one evaluation)."""
    return dict(db.execute("SELECT key, value FROM meta").fetchall())
