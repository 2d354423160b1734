"""The description of a run at the top of every report: model, data, threat, suite, seed,
when the results were written and by which advkit, plus the number reading they share.

Example:
    >>> from pathlib import Path
    >>> from advkit.report.run_info import norm_label, number
    >>> number("inf"), number(0.5)
    (inf, 0.5)
    >>> norm_label({"threat": "linf eps=0.1 box=[0.0, 1.0]"})
    'L∞'
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advkit.schema import SCHEMA_VERSION
from advkit.version import VERSION

__all__ = ["Fact", "norm_label", "number", "run_info", "written_on"]

NORMS = {"linf": "L∞", "l2": "L2", "l1": "L1", "l0": "L0"}


@dataclass(frozen=True)
class Fact:
    """One line of the run's description.

    Attributes:
        key: a stable name, the ``data-key`` of the page element (``"model"``).
        label: what it is, for the reader (``"model"``).
        value: its value as text.
    """

    key: str
    label: str
    value: str


def number(value: Any) -> float:
    """A JSON number of advkit's results as a float (``"inf"``, ``"nan"`` included)."""
    return float(value)


def norm_label(results: dict[str, Any]) -> str:
    """The threat's norm as written on the page (``"L∞"``), from the source or the
    threat's description; ``"input"`` when neither says."""
    name = (results.get("source") or {}).get("norm") or str(results.get("threat", "")).split(" ")[0]
    return NORMS.get(str(name).lower(), str(name) or "input")


def written_on(path: Path) -> str:
    """The date and time ``path`` was last written, UTC, ``YYYY-MM-DD HH:MM``."""
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def run_info(
    results: dict[str, Any], path: Path, extra: Sequence[tuple[str, str, Any]] = ()
) -> list[Fact]:
    """The run's description: what the results record, then the file and the report.

    Args:
        results: the results JSON.
        path: where it was read from.
        extra: (key, label, value) facts of one kind of run (the certifier, the
            detector ...), shown after the threat and the suite; None values are left out.
    """
    recorded = results.get("info") or {}
    info = {**results, **recorded}
    facts = [
        ("model", "model", info.get("model")),
        ("dataset", "data", info.get("dataset")),
        ("threat", "threat model", info.get("threat")),
        ("suite", "suite", _suite(recorded.get("suite"), results.get("suite"))),
        ("attack", "attack", info.get("attack") if "distortion" in results else None),
        *extra,
        ("seed", "seed", info.get("seed")),
        ("n", "samples", info.get("n")),
        ("seconds", "wall time", _seconds(info.get("seconds"))),
        ("written", "results written", written_on(path) if path.exists() else None),
        ("advkit", "report by", f"advkit {VERSION} (results schema {SCHEMA_VERSION})"),
    ]
    return [Fact(k, label, str(v)) for k, label, v in facts if v is not None]


def _suite(name: Any, cascade: Any) -> str | None:
    """``"quick (apgd-ce → apgd-t)"`` from the suite's name and its attacks."""
    if not isinstance(cascade, list):
        return None if name is None else str(name)
    attacks = " → ".join(str(a) for a in cascade)
    return f"{name} ({attacks})" if name else attacks


def _seconds(value: Any) -> str | None:
    """``"3.3 s"``, or None when not recorded."""
    return None if value is None else f"{number(value):.1f} s"
