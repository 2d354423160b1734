"""The report of an ``advkit train`` run on the digits: the training curves, opened in
headless Chromium, load without errors or network and show the history's numbers."""

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

TRAIN = ["train", "--method", "fast", "--n", "64", "--eval-n", "32", "--epochs", "2",
         "--seed", "3", "--quiet"]  # fmt: skip
"""Two epochs of fast adversarial training of the demo CNN on 64 digits."""


def test_train_report_shows_the_history_in_a_browser(tmp_path: Path, chromium: Chromium) -> None:
    weights = tmp_path / "model.pt"
    assert cli.main([*TRAIN, "--out", str(weights)]) == 0
    out = weights.with_suffix(".json")
    results = json.loads(out.read_text())
    page = chromium.open_page(report(out), screenshot("train"))
    assert_clean_load(page, out.with_suffix(".html"))
    history = results["history"]
    assert len(history) == 2
    for epoch in history:
        row = str(epoch["epoch"])
        assert value(page, key="loss", row=row) == epoch["loss"]
        assert value(page, key="clean", row=row) == epoch["clean_accuracy"]
        assert value(page, key="robust", row=row) == epoch["robust_accuracy"]
    assert value(page, id="final-robust-accuracy") == history[-1]["robust_accuracy"]
    assert value(page, id="final-clean-accuracy") == history[-1]["clean_accuracy"]
    assert "Training loss per epoch: 1: " in page.text
    assert "upper bound" in page.text and "advkit evaluate --checkpoint" in page.text
    assert "fast" in page.text and "digits-cnn" in page.text and "64" in page.text
