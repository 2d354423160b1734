"""Bad input to `advkit report`: another schema version is a one-line error; a missing
adversarial-example file and an empty run still render, saying what cannot be shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import Chromium
from report_support import (
    assert_clean_load,
    evaluate,
    report,
    screenshot,
    value,
)

from advkit import cli
from advkit.evaluate.examples import examples_path
from advkit.schema import SCHEMA_VERSION

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bad") / "run.json"
    return out, evaluate(out)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``advkit argv``: exit status 2 and one error line, returned."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_another_schema_version_is_refused(
    run: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**run[1], "schema_version": SCHEMA_VERSION + 1}))
    err = one_line_error(capsys, ["report", str(old)])
    assert f"schema_version {SCHEMA_VERSION + 1}" in err and "rerun" in err
    assert not old.with_suffix(".html").exists()


def test_a_missing_examples_file_is_said_on_the_page(
    run: tuple[Path, dict[str, Any]], tmp_path: Path, chromium: Chromium
) -> None:
    moved = tmp_path / "moved.json"
    moved.write_text(run[0].read_text())  # the examples file stays behind
    assert not examples_path(moved).exists()
    page = chromium.open_page(report(moved), screenshot("missing-examples"))
    assert_clean_load(page, moved.with_suffix(".html"))
    broken = [r["index"] for r in run[1]["samples"]["0.1"] if r["broken_by"] == "apgd-ce"]
    note = f"samples {', '.join(map(str, broken))} cannot be shown"
    assert "moved.adv.safetensors is missing" in page.text and note in page.text
    assert value(page, id="robust-accuracy") == run[1]["robust_accuracy"]


def test_an_empty_run_renders(tmp_path: Path, chromium: Chromium) -> None:
    empty = tmp_path / "empty.json"
    results = {"schema_version": SCHEMA_VERSION, "threat": "linf eps=0.1 box=[0.0, 1.0]",
               "eps": 0.1, "suite": ["apgd-ce"], "n": 0, "clean_accuracy": "nan",
               "robust_accuracy": "nan", "curve": [], "broken_by": {}, "gradient_calls": 0,
               "info": {}, "masking": [], "samples": {"0.1": []}}  # fmt: skip
    empty.write_text(json.dumps(results))
    page = chromium.open_page(report(empty), screenshot("empty"))
    assert_clean_load(page, empty.with_suffix(".html"))
    assert "This run evaluated no samples" in page.text
    assert "no accuracy-vs-ε curve" in page.text


def test_a_file_that_is_not_json_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    assert "is not JSON" in one_line_error(capsys, ["report", str(bad)])
