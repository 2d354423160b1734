"""The leaderboard as Markdown and CSV, and the cells every format shares.

Example:
    >>> from advkit.report.leaderboard import Entry, ranked
    >>> from advkit.report.leaderboard_text import csv_text
    >>> e = Entry("a.json", "m", "digits/test", "linf", 0.1, 0.9, 0.4, None, "fast", 10, "")
    >>> csv_text(ranked([e])).splitlines()[1]
    'A,1,m,digits/test,linf,0.1,0.9,0.4,,fast,10,,a.json'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from advkit.report.figures import percent
from advkit.report.leaderboard import Group, Row

__all__ = ["COLUMNS", "GROUP_NOTE", "cells", "csv_text", "markdown"]

COLUMNS = ("group", "rank", "model", "dataset", "threat", "ε", "clean", "robust",
           "certified", "suite", "cost (gradient calls)", "date")  # fmt: skip
"""The table's columns, in order."""

GROUP_NOTE = (
    "Runs are ranked only within their comparison group (same data, norm, ε and suite, "
    "or the same certifier); numbers of different groups are different quantities and "
    "are not ranked together."
)


def cells(row: Row) -> list[str]:
    """One row's cells as shown (percentages; empty where not measured)."""
    e = row.entry
    accuracies = [percent(v) if v is not None else "" for v in (e.clean, e.robust, e.certified)]
    eps = "" if e.eps is None else f"{e.eps:g}"
    return [row.group, str(row.rank), e.model, e.dataset, e.norm, eps, *accuracies,
            e.suite, str(e.cost), e.date]  # fmt: skip


def markdown(rows: Sequence[Row], groups: Sequence[Group]) -> str:
    """The leaderboard as a Markdown table, the groups listed below it."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
    lines += ["", GROUP_NOTE, ""]
    lines += [f"- group {g.letter}: {g.description}" for g in groups]
    if len(groups) > 1:
        lines += ["", f"**{len(groups)} comparison groups: do not compare across them.**"]
    return "\n".join(lines) + "\n"


def csv_text(rows: Sequence[Row]) -> str:
    """The leaderboard as CSV: exact numbers (fractions), one row per run, its file last."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*COLUMNS, "file"])
    for row in rows:
        e = row.entry
        numbers = ["" if v is None else repr(v) for v in (e.eps, e.clean, e.robust, e.certified)]
        writer.writerow([row.group, row.rank, e.model, e.dataset, e.norm, *numbers, e.suite,
                         e.cost, e.date, e.path])  # fmt: skip
    return buffer.getvalue()
