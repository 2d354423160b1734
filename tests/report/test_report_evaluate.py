"""The report of an evaluate run: opened in headless Chromium, it loads without errors or
network, shows the JSON's numbers, and is kept as a screenshot under results/."""

from __future__ import annotations

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

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An evaluate run with a certified curve and its report (``evaluate --report``)."""
    out = tmp_path_factory.mktemp("evaluate") / "run.json"
    return out, evaluate(out, "--certify", "crown", "--report")


def test_evaluate_report_shows_the_json_in_a_browser(
    run: tuple[Path, dict[str, Any]], chromium: Chromium
) -> None:
    out, results = run
    page = chromium.open_page(out.with_suffix(".html"), screenshot("evaluate"))
    assert_clean_load(page, out.with_suffix(".html"))
    assert value(page, id="clean-accuracy") == results["clean_accuracy"]
    assert value(page, id="robust-accuracy") == results["robust_accuracy"]
    for point in results["curve"]:
        assert value(page, key="robust", row=repr(point["eps"])) == point["robust_accuracy"]
    for row in results["sandwich"]["rows"]:
        assert value(page, key="certified", row=repr(row["eps"])) == row["certified_accuracy"]
    for attack, count in results["broken_by"].items():
        assert value(page, key="broken", row=attack) == count
    assert value(page, id="gradient-calls") == results["gradient_calls"]
    assert "upper bound" in page.text and "lower bound" in page.text
    assert "No gradient-masking flag was raised" in page.text
    assert screenshot("evaluate").stat().st_size > 0


def test_the_gallery_shows_broken_samples_with_their_labels(
    run: tuple[Path, dict[str, Any]], chromium: Chromium, tmp_path: Path
) -> None:
    out, results = run
    page = chromium.open_page(report(out, "--out", str(tmp_path / "r.html")), tmp_path / "r.png")
    broken = [r for r in results["samples"]["0.1"] if r["broken_by"] == "apgd-ce"]
    first = broken[0]
    assert f"sample {first['index']}: true label {first['label']} →" in page.text
    assert f"Showing the first 12 of the {len(broken)} samples" in page.text
    assert "cannot be shown" not in page.text
