"""Which page `advkit report` draws is chosen by what the results hold: results of no
known kind are a one-line error naming the commands whose results it draws, and a
training run with no epoch still renders, saying so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import Chromium
from report_support import (
    assert_clean_load,
    report,
)

from advkit import cli
from advkit.schema import SCHEMA_VERSION

pytestmark = pytest.mark.usefixtures("single_thread")


def test_results_of_no_known_kind_name_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "fooling_rate": 0.5}))
    assert cli.main(["report", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot draw (keys: fooling_rate" in err
    for command in ("evaluate --out", "certify", "train", "detect --out", "transfer"):
        assert f"advkit {command}" in err
    assert not other.with_suffix(".html").exists()


def test_a_training_run_without_epochs_renders(tmp_path: Path, chromium: Chromium) -> None:
    empty = tmp_path / "model.json"
    results = {"schema_version": SCHEMA_VERSION, "method": "pgd", "dataset": "digits",
               "arch": "digits-cnn", "threat": "linf eps=0.1", "history": []}  # fmt: skip
    empty.write_text(json.dumps(results))
    page = chromium.open_page(report(empty), tmp_path / "empty.png")
    assert_clean_load(page, empty.with_suffix(".html"))
    assert "This run trained no epoch" in page.text
