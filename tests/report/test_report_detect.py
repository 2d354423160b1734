"""The report of an ``advkit detect`` run on the digits: the detector's ROC per attack,
opened in headless Chromium, loads without errors or network, shows the JSON's numbers
(the areas under the curves agree with scikit-learn's) and says which attacks knew the
detector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import Chromium
from report_support import (
    assert_clean_load,
    report,
    screenshot,
    value,
)
from sklearn.metrics import roc_auc_score

from advkit import cli
from advkit.schema import SCHEMA_VERSION

pytestmark = pytest.mark.usefixtures("single_thread")

DETECT = ["detect", "--model", "linear_digits:linear_digits", "--dataset", "digits",
          "--detector", "gradient-norm", "--n", "30", "--calibrate-n", "100", "--steps", "20",
          "--search-steps", "2", "--kappa", "5", "--quiet"]  # fmt: skip
"""The gradient-norm detector of the linear digits model against C&W, EAD and the
adaptive C&W, on short schedules."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("detect") / "detect.json"
    assert cli.main([*DETECT, "--out", str(out)]) == 0
    return out, json.loads(out.read_text())


def test_detect_report_shows_the_json_in_a_browser(
    run: tuple[Path, dict[str, Any]], chromium: Chromium
) -> None:
    out, results = run
    page = chromium.open_page(report(out), screenshot("detect"))
    assert_clean_load(page, out.with_suffix(".html"))
    assert value(page, id="fpr") == results["fpr"]
    assert value(page, id="threshold") == results["threshold"]
    assert value(page, id="correct") == results["correct"]
    clean = results["clean_scores"]
    assert len(clean) == results["n"]
    drawn = 0
    for row in results["attacks"]:
        name = row["attack"]
        for key in ("success", "detected", "evasion"):
            shown = value(page, key=key, row=name)
            assert shown == row[key] or (shown != shown and row[key] == "nan")
        if row["scores"]:
            labels = [0] * len(clean) + [1] * len(row["scores"])
            expected = roc_auc_score(labels, clean + row["scores"])
            assert value(page, key="auc", row=name) == pytest.approx(expected, abs=1e-12)
            drawn += 1
    assert drawn >= 1
    adaptive = {r["attack"]: r["adaptive"] for r in results["attacks"]}
    assert adaptive == {"C&W (k=0)": False, "EAD (k=0)": False, "adaptive C&W (k=5)": True}
    assert "yes (adaptive)" in page.text and "ROC curves of the detector" in page.text
    assert "says nothing about an attacker who does" in page.text


def test_without_an_adaptive_attack_the_report_warns(
    run: tuple[Path, dict[str, Any]], tmp_path: Path, chromium: Chromium
) -> None:
    plain = {**run[1], "attacks": [r for r in run[1]["attacks"] if not r["adaptive"]]}
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(plain))
    page = chromium.open_page(report(path), tmp_path / "plain.png")
    assert_clean_load(page, path.with_suffix(".html"))
    assert "No adaptive attack was run" in page.text


def test_results_without_scores_say_why_there_is_no_roc(
    run: tuple[Path, dict[str, Any]], tmp_path: Path, chromium: Chromium
) -> None:
    rows = [
        {k: v for k, v in r.items() if k not in ("scores", "adaptive")} for r in run[1]["attacks"]
    ]
    old = {k: v for k, v in run[1].items() if k != "clean_scores"}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({**old, "attacks": rows, "schema_version": SCHEMA_VERSION}))
    page = chromium.open_page(report(path), tmp_path / "old.png")
    assert_clean_load(page, path.with_suffix(".html"))
    assert "record no detector scores" in page.text and "not recorded" in page.text
