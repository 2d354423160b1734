"""`advkit leaderboard`: one table across runs, ranked only within comparison groups,
as HTML (checked in headless Chromium), Markdown and CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from browser import Chromium
from report_support import (
    assert_clean_load,
    evaluate,
    screenshot,
    value,
)

from advkit import cli

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Two comparable runs (ε = 0.1, 40 and 20 samples) and one at another ε."""
    folder = tmp_path_factory.mktemp("board")
    made = {}
    for name, more in {"a": [], "b": ["--n", "20"], "c": ["--eps", "0.05"]}.items():
        out = folder / f"{name}.json"
        made[str(out)] = evaluate(out, *more)
    return made


def board(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(["leaderboard", *argv]) == 0
    return capsys.readouterr().out


def test_html_leaderboard_marks_groups_and_shows_the_json(
    runs: dict[str, dict[str, Any]], tmp_path: Path, chromium: Chromium
) -> None:
    out = tmp_path / "board.html"
    assert cli.main(["leaderboard", str(Path(next(iter(runs))).parent), "--out", str(out)]) == 0
    page = chromium.open_page(out, screenshot("leaderboard"))
    assert_clean_load(page, out)
    for path, results in runs.items():
        assert value(page, key="robust", row=path) == results["robust_accuracy"]
        assert value(page, key="clean", row=path) == results["clean_accuracy"]
    assert "2 comparison groups" in page.text
    assert "group A: digits/test, linf ε=0.1, fast" in page.text


def test_markdown_and_csv_rank_within_groups_only(
    runs: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    paths = list(runs)
    rows = list(csv.DictReader(io.StringIO(board(capsys, *paths, "--format", "csv"))))
    by_file = {row["file"]: row for row in rows}
    for path, results in runs.items():
        assert float(by_file[path]["robust"]) == results["robust_accuracy"]
    groups = {row["group"] for row in rows}
    assert len(groups) == 2 and by_file[paths[2]]["rank"] == "1"
    assert sorted(by_file[p]["rank"] for p in paths[:2]) == ["1", "2"]
    text = board(capsys, *paths)
    assert "ranked only within their comparison group" in text
    assert "**2 comparison groups: do not compare across them.**" in text


def test_a_store_stands_for_the_results_beside_it(
    runs: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(next(iter(runs)))
    rows = list(csv.DictReader(io.StringIO(board(capsys, str(path.with_suffix(".sqlite")),
                                                 "--format", "csv"))))  # fmt: skip
    assert [row["file"] for row in rows] == [str(path)]
