"""Rendering a report: the results JSON in, one self-contained HTML file out.

Problem solved: a report must open anywhere, offline, mailed or moved, and say honestly
what the numbers mean. Pages are rendered from jinja2 templates (``templates/``, shipped
with the package) with autoescaping on; styles are inline, plots and images are ``data:``
URIs, and there is no script. Every key number carries its exact JSON value in a
``data-value`` attribute, so a test (or a reader) can check the page against the JSON.

The results are read only through :func:`advkit.schema.read_results`, which refuses
another schema version. Which page is drawn depends on what the results hold
(:func:`page_of`).

Example:
    >>> from advkit.report.html import render
    >>> "<html" in render("base.html.j2", {"title": "a report"})
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2

from advkit.report.attack_run import attack_page
from advkit.report.certification import certify_page
from advkit.report.detection import detect_page
from advkit.report.evaluation import evaluate_page
from advkit.report.figures import percent
from advkit.report.leaderboard import Row, groups_of
from advkit.report.leaderboard_text import COLUMNS, GROUP_NOTE, cells
from advkit.report.training import training_page
from advkit.report.transfer_matrix import transfer_page
from advkit.schema import read_results

__all__ = ["KINDS", "REPORT_SUFFIXES", "page_of", "render", "render_leaderboard", "render_report"]

REPORT_SUFFIXES = (".html", ".htm")
"""The endings accepted for a report's file name."""

Page = Callable[[dict[str, Any], Path], dict[str, Any]]

KINDS: tuple[tuple[str, tuple[str, ...], str, Page], ...] = (
    ("advkit train", ("history",), "train.html.j2", training_page),
    ("advkit detect --out", ("detector", "attacks"), "detect.html.j2", detect_page),
    ("advkit transfer", ("sources", "targets", "success_rate"), "transfer.html.j2",
     transfer_page),
    ("advkit certify", ("certified_accuracy", "samples", "unknown"), "certify.html.j2",
     certify_page),
    ("advkit attack --report --json", ("distortion", "mean_distance_successful"),
     "attack.html.j2", attack_page),
)  # fmt: skip
"""Per kind of results: the command that writes them, the keys that only they hold,
the template and the context builder of their page; evaluate results are the others."""


def render(template: str, context: dict[str, Any]) -> str:
    """The HTML of ``template`` (a file of ``templates/``) with ``context``."""
    return _environment().get_template(template).render(**context)


def page_of(results: dict[str, Any], path: Path) -> tuple[str, Page]:
    """The template and the context builder for the results ``results``.

    Raises:
        ValueError: advkit draws no report for what the results hold.
    """
    for _, keys, template, page in KINDS:
        if all(key in results for key in keys):
            return template, page
    if "curve" in results or "distortion" in results or results.get("n") == 0:
        return "evaluate.html.j2", evaluate_page
    commands = ", ".join(["advkit evaluate --out", *(command for command, *_ in KINDS)])
    raise ValueError(
        f"{path} holds results advkit report cannot draw (keys: "
        f"{', '.join(sorted(results)[:8])}); give the JSON that one of {commands} wrote"
    )


def render_report(path: str | Path) -> str:
    """The HTML report of the results file ``path``.

    Raises:
        advkit.schema.SchemaMismatch: the file is not advkit results of this schema.
        ValueError: it holds results advkit draws no report for.
    """
    path = Path(path)
    results = read_results(path)
    template, page = page_of(results, path)
    context = page(results, path)
    return render(template, {"title": f"advkit report: {path.name}", **context})


def render_leaderboard(rows: Sequence[Row], notes: Sequence[str]) -> str:
    """The leaderboard page of ``rows`` (:func:`~advkit.report.leaderboard.ranked`),
    sortable by any column, with ``notes`` (files skipped) below it."""
    shown = []
    for row in rows:
        e = row.entry
        values = [None, row.rank, None, None, None, e.eps, e.clean, e.robust, e.certified,
                  None, e.cost, None]  # fmt: skip
        sort = [c if v is None else repr(v) for v, c in zip(values, cells(row), strict=True)]
        shown.append({"entry": e, "group": row.group, "cells": cells(row),
                      "numbers": values, "sort": sort})  # fmt: skip
    groups = groups_of(rows)
    context = {"title": "advkit leaderboard", "rows": shown, "columns": COLUMNS,
               "groups": groups, "group_note": GROUP_NOTE, "notes": list(notes)}  # fmt: skip
    return render("leaderboard.html.j2", context)


def _environment() -> jinja2.Environment:
    """The templates shipped with advkit, autoescaped, with the report's filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("advkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["exact"] = _exact
    return env


def _pct(value: Any) -> str:
    """A fraction as ``"77.50%"``; ``"n/a"`` when undefined (an empty run)."""
    return "n/a" if value is None or math.isnan(float(value)) else percent(float(value))


def _exact(value: Any) -> str:
    """A number exactly as JSON reads it back (``repr``: round-trips every float)."""
    return repr(float(value)) if value is not None else ""
