"""The leaderboard: one table of many runs, ranked only among runs that compare.

Problem solved: robust accuracies under different threat models, radii, data or attack
suites are different quantities; a table that ranks them together misleads. Every run
gets a comparison group (same data, norm, ε and suite, or the same certifier), and ranks
are given within a group only; the tables show the group of every row, and say when a
table holds more than one group.

Inputs are results files of ``advkit evaluate`` (a suite's or ``--minimal``'s) and
``advkit certify``, folders searched for them, and per-sample stores (``run.sqlite``:
the results ``run.json`` beside it). A file named directly must be readable
(:func:`advkit.schema.read_results`); a file found in a folder that is not advkit results
of this schema is skipped with a note.

Example:
    >>> from advkit.report.leaderboard import Entry, ranked
    >>> a = Entry("a.json", "m1", "digits/test", "linf", 0.1, 0.9, 0.4, None, "fast", 10, "")
    >>> b = Entry("b.json", "m2", "digits/test", "linf", 0.1, 0.9, 0.6, None, "fast", 10, "")
    >>> [(row.entry.model, row.group, row.rank) for row in ranked([a, b])]
    [('m2', 'A', 1), ('m1', 'A', 2)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advkit.report.run_info import number, written_on
from advkit.schema import SchemaMismatch, read_results

__all__ = ["Entry", "Group", "Row", "collect", "entry_of", "groups_of", "ranked"]

STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


@dataclass(frozen=True)
class Entry:
    """One run of the leaderboard.

    Attributes:
        path: the results file.
        model, dataset: what was evaluated (as the results name them).
        norm: the threat's norm (``"linf"``); eps: its radius (None for ``--minimal``).
        clean, robust, certified: accuracies (None when the run did not measure it).
        suite: the attack suite, ``"minimal <attack>"`` or ``"certify <method>"``.
        cost: input-gradient computations spent (0 when not recorded).
        date: when the results were written.
    """

    path: str
    model: str
    dataset: str
    norm: str
    eps: float | None
    clean: float | None
    robust: float | None
    certified: float | None
    suite: str
    cost: int
    date: str

    @property
    def comparable(self) -> tuple[str, str, float | None, str]:
        """What must agree for two runs to be ranked together."""
        return (self.dataset, self.norm, self.eps, self.suite)


@dataclass(frozen=True)
class Row:
    """A run with its comparison group (a letter) and its rank within the group."""

    entry: Entry
    group: str
    rank: int


@dataclass(frozen=True)
class Group:
    """A comparison group: its letter and what its runs share, in words."""

    letter: str
    description: str


def entry_of(results: dict[str, Any], path: Path) -> Entry:
    """The leaderboard entry of one results file.

    Raises:
        ValueError: the results are neither evaluate nor certify results.
    """
    info = {**results, **(results.get("info") or {})}
    threat = str(results.get("threat", ""))
    try:
        eps, robust, certified, suite = _measures(results, str(info.get("suite") or ""), threat)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    return Entry(
        path=str(path),
        model=str(info.get("model", "?")),
        dataset=str(info.get("dataset", "?")),
        norm=threat.split(" ")[0] or "?",
        eps=eps,
        clean=_maybe(results.get("clean_accuracy")),
        robust=robust,
        certified=certified,
        suite=suite,
        cost=int(results.get("gradient_calls", 0)),
        date=written_on(path),
    )


def _measures(
    results: dict[str, Any], suite: str, threat: str
) -> tuple[float | None, float | None, float | None, str]:
    """ε, robust and certified accuracy, and the suite's name, of certify, ``--minimal``
    or suite results.

    Raises:
        ValueError: the results are none of these.
    """
    if "certified_accuracy" in results:
        method = f"certify {results.get('method', '?')}"
        return _eps(threat), None, _maybe(results["certified_accuracy"]), method
    if "distortion" in results:
        return None, None, None, f"minimal {results.get('attack', '?')}"
    if "robust_accuracy" in results:
        eps = number(results["eps"])
        rows = (results.get("sandwich") or {}).get("rows", [])
        certified = [number(r["certified_accuracy"]) for r in rows if number(r["eps"]) == eps]
        name = suite or "+".join(results.get("suite", []))
        return eps, _maybe(results["robust_accuracy"]), next(iter(certified), None), name
    raise ValueError(
        "the file holds neither advkit evaluate nor advkit certify results; give the JSON "
        "those commands wrote (--out)"
    )


def collect(paths: Sequence[Path]) -> tuple[list[Entry], list[str]]:
    """The entries of every results file of ``paths``, and a note per file skipped.

    Raises:
        SchemaMismatch, ValueError, OSError: a file named directly cannot be read.
    """
    entries: list[Entry] = []
    notes: list[str] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*.json")):
                try:
                    entries.append(entry_of(read_results(found), found))
                except (SchemaMismatch, ValueError, OSError) as err:
                    notes.append(f"skipped {found}: {err}")
            continue
        if path.suffix in STORE_SUFFIXES:
            path = _results_of_store(path)
        entries.append(entry_of(read_results(path), path))
    return entries, notes


def ranked(entries: Sequence[Entry]) -> list[Row]:
    """The entries by group (in order of first appearance), best first within a group:
    by robust accuracy, else certified, else clean; unmeasured last."""
    order = list(dict.fromkeys(e.comparable for e in entries))
    rows = []
    for g, key in enumerate(order):
        members = sorted((e for e in entries if e.comparable == key), key=_score, reverse=True)
        rows += [Row(e, _letter(g), rank) for rank, e in enumerate(members, start=1)]
    return rows


def groups_of(rows: Sequence[Row]) -> list[Group]:
    """The comparison groups of ``rows``, with what their runs share."""
    seen: dict[str, Group] = {}
    for row in rows:
        e = row.entry
        eps = "" if e.eps is None else f" ε={e.eps:g}"
        seen.setdefault(row.group, Group(row.group, f"{e.dataset}, {e.norm}{eps}, {e.suite}"))
    return list(seen.values())


def _score(entry: Entry) -> tuple[float, float]:
    """The sort key within a group: the headline accuracy, then clean accuracy."""
    headline = next((v for v in (entry.robust, entry.certified, entry.clean) if v is not None), -1)
    return (headline, -1 if entry.clean is None else entry.clean)


def _letter(index: int) -> str:
    """``0`` → ``"A"``, ..., ``25`` → ``"Z"``, ``26`` → ``"AA"``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _maybe(value: Any) -> float | None:
    """A recorded accuracy (None for a missing or undefined one)."""
    if value is None:
        return None
    found = number(value)
    return None if found != found else found  # NaN: an empty run


def _eps(threat: str) -> float | None:
    """The ε of a threat's description (``"linf eps=0.1 box=[0.0, 1.0]"``)."""
    found = re.search(r"eps=(\S+)", threat)
    return None if found is None else number(found.group(1))


def _results_of_store(store: Path) -> Path:
    """The results JSON beside a per-sample store (``run.sqlite`` → ``run.json``)."""
    results = store.with_suffix(".json")
    if not results.exists():
        raise ValueError(
            f"{store} is a per-sample store, and the results {results.name} that advkit "
            "evaluate writes beside it are not there; give the results JSON (--out) instead"
        )
    return results
