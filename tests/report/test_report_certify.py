"""The report of an ``advkit certify`` run on the digits: opened in headless Chromium, it
loads without errors or network, shows the JSON's numbers and says that a certified
accuracy is a proven lower bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import Chromium
from report_support import (
    assert_clean_load,
    report,
    screenshot,
    value,
)

from advkit import cli

pytestmark = pytest.mark.usefixtures("single_thread")

CERTIFY = ["certify", "--model", "linear_digits:linear_digits", "--dataset", "digits",
           "--n", "40", "--eps", "0.02", "--method", "crown", "--quiet"]  # fmt: skip
"""CROWN on the closed-form linear digits model: certified, misclassified and open samples."""


def test_certify_report_shows_the_json_in_a_browser(tmp_path: Path, chromium: Chromium) -> None:
    out = tmp_path / "certify.json"
    assert cli.main([*CERTIFY, "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    page = chromium.open_page(report(out), screenshot("certify"))
    assert_clean_load(page, out.with_suffix(".html"))
    assert value(page, id="clean-accuracy") == results["clean_accuracy"]
    assert value(page, id="certified-accuracy") == results["certified_accuracy"]
    n, attacked = results["n"], results["attacked"]
    assert value(page, id="robust-at-most") == (n - attacked) / n
    statuses = [s["status"] for s in results["samples"]]
    for status in ("certified", "attacked", "unknown"):
        assert value(page, key="count", row=status) == statuses.count(status)
    assert value(page, key="count", row="attacked") == attacked
    assert "proven lower bound" in page.text and "CROWN()" in page.text
    assert "Histogram of the margin lower bounds of 40 samples" in page.text
