"""The report of ``advkit evaluate --estimates``: per sample, the attack distance, the
CLEVER estimate and the certified margin radius side by side, equal to the JSON, with
the flagged samples marked and the wording that tells an estimate from a certificate."""

from __future__ import annotations

import copy
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

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An evaluate run with estimates, one sample flagged as CLEVER overestimated (the
    linear model never is: its CLEVER score equals its margin radius)."""
    out = tmp_path_factory.mktemp("estimates") / "run.json"
    results = evaluate(out, "--estimates")
    records = results["samples"][str(results["eps"])]
    broken = next(r for r in records if r["broken_by"] not in (None, "clean"))
    broken.update(clever=broken["distance"] * 2, clever_overestimated=True)
    results["estimates"]["clever_overestimated"] = [broken["index"]]
    out.write_text(json.dumps(results))
    return out, results


def test_estimates_are_shown_beside_the_attack_distance(
    run: tuple[Path, dict[str, Any]], chromium: Chromium
) -> None:
    out, results = run
    html = report(out)
    page = chromium.open_page(html, screenshot("estimates"))
    assert_clean_load(page, html)
    records = results["samples"][str(results["eps"])]
    for r in records:
        row = str(r["index"])
        assert value(page, key="clever", row=row) == r["clever"]
        assert value(page, key="margin_radius", row=row) == r["margin_radius"]
        if r["distance"] is None:
            assert not [v for v in page.values if v["key"] == "distance" and v["row"] == row]
        else:
            assert value(page, key="distance", row=row) == r["distance"]
    assert f"all {len(records)} samples" in page.text
    assert "CLEVER is an estimate" in page.text and "never a certificate" in page.text
    assert "certified" in page.text and "lower bound" in page.text
    assert "upper bound" in page.text and "robust" in page.text
    flagged = results["estimates"]["clever_overestimated"]
    assert f"CLEVER overestimated the radius of 1 sample: {flagged[0]}" in page.text
    assert "CLEVER estimate against attack distance" in page.text
    assert "1 lie below the diagonal" in page.text
    assert screenshot("estimates").stat().st_size > 0


def test_a_run_without_estimates_has_no_estimates_section(
    run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    results = copy.deepcopy(run[1])
    del results["estimates"]
    for records in results["samples"].values():
        for r in records:
            for key in ("clever", "margin_radius", "clever_overestimated"):
                r.pop(key)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(results))
    assert 'id="estimates"' not in report(bare).read_text()
