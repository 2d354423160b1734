"""Helpers of the report tests: a small evaluate run, the CLI, and the page's numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import Page

from advkit import cli
from advkit.evaluate import suites

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "results"

EVALUATE = ["evaluate", "--model", "linear_digits:linear_digits", "--dataset", "digits",
            "--n", "40", "--eps", "0.1", "--eps-curve", "0.05,0.2", "--suite", "fast",
            "--quiet", "--skip-verify"]  # fmt: skip
"""A one-second evaluation with broken and robust samples (tests/linear_digits.py)."""


def evaluate(out: Path, *more: str) -> dict[str, Any]:
    """Run ``advkit evaluate`` (the ``fast`` suite cut to 10 steps) into ``out``; its JSON."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(suites.SUITES, "fast", (("apgd-ce", {"steps": 10}),))
        assert cli.main([*EVALUATE, "--out", str(out), *more]) == 0
    return dict(json.loads(out.read_text()))


def report(results: Path, *more: str) -> Path:
    """Run ``advkit report RESULTS.json`` and return the page it wrote."""
    assert cli.main(["report", str(results), *more]) == 0
    return results.with_suffix(".html") if not more else Path(more[-1])


def screenshot(name: str) -> Path:
    """Where the screenshot of the report ``name`` goes: ``results/report-<name>.png``."""
    return SCREENSHOTS / f"report-{name}.png"


def value(page: Page, *, id: str = "", key: str = "", row: str = "") -> float:
    """The one ``data-value`` of the page with this id, or this data-key in this row."""
    found = [
        v["value"]
        for v in page.values
        if (id and v["id"] == id) or (key and v["key"] == key and v["row"] == row)
    ]
    assert len(found) == 1, (id, key, row, page.values)
    return float(found[0])


def assert_clean_load(page: Page, path: Path) -> None:
    """No console error, and no request but the file itself and its inline data."""
    assert page.errors == []
    others = [url for url in page.requests if not url.startswith("data:")]
    assert others == [path.resolve().as_uri()]
