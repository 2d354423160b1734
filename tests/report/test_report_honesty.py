"""The report says in words what its numbers are: a masking flag with its remedy and the
adaptive re-evaluation; a minimal-distortion run's curve and distortion histogram, each
plot with a text alternative that states its numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import Chromium
from report_support import (
    assert_clean_load,
    evaluate,
    report,
    screenshot,
    value,
)

pytestmark = pytest.mark.usefixtures("single_thread")

FLAG = {"check": "noise-stronger", "message": "random noise broke 2 samples the suite left",
        "remedy": "rerun with --adaptive (noise added to the cascade)", "samples": [1, 2],
        "distances": [0.1, 0.1]}  # fmt: skip


def test_a_masking_flag_is_said_with_its_remedy(tmp_path: Path, chromium: Chromium) -> None:
    out = tmp_path / "run.json"
    results = evaluate(out)
    before = {**results, "robust_accuracy": 0.55}
    out.write_text(json.dumps({**results, "masking": [FLAG], "before_adaptive": before}))
    page = chromium.open_page(report(out), screenshot("masking"))
    assert_clean_load(page, out.with_suffix(".html"))
    assert "Gradient masking was flagged" in page.text and "overestimate" in page.text
    assert FLAG["message"] in page.text and FLAG["remedy"] in page.text
    assert value(page, id="robust-before-adaptive") == 0.55


def test_a_minimal_run_has_its_curve_and_histogram_in_words(
    tmp_path: Path, chromium: Chromium
) -> None:
    out = tmp_path / "minimal.json"
    argv = ["--norm", "l2", "--eps", "inf", "--eps-curve", "0.5,1", "--minimal", "deepfool"]
    results = evaluate(out, *argv, "--report")
    page = chromium.open_page(out.with_suffix(".html"), screenshot("minimal"))
    assert_clean_load(page, out.with_suffix(".html"))
    for point in results["curve"]:
        assert value(page, key="robust", row=repr(point["eps"])) == point["robust_accuracy"]
    found = sum(results["success"]) - sum(d == 0 for d in results["minimal_distance"])
    assert "Histogram of the minimal distances found by DeepFool" in page.text
    assert f"{found} samples, smallest" in page.text
    assert "ε=0.5: " in page.text and "(L2 norm)" in page.text
