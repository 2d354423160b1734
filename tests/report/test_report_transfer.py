"""The report of an ``advkit transfer`` run on the digits: the transferability matrix as a
heat map, opened in headless Chromium, loads without errors or network and shows the
JSON's numbers."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
from browser import Chromium
from report_support import (
    assert_clean_load,
    report,
    screenshot,
    value,
)

from advkit import cli
from advkit.cli import transfer
from linear_digits import linear_digits

pytestmark = pytest.mark.usefixtures("single_thread")

MODELS = {"linear-ridge-1": partial(linear_digits, 1.0),
          "linear-ridge-300": partial(linear_digits, 300.0)}  # fmt: skip
"""Two closed-form linear digits models, standing in for registry models (whose
checkpoints are MNIST's): the command itself runs unchanged."""

TRANSFER = ["transfer", "--models", ",".join(MODELS), "--dataset", "digits", "--n", "40",
            "--eps", "0.1", "--attack", "fgm", "--ensemble", "--quiet"]  # fmt: skip


def test_transfer_report_shows_the_matrix_in_a_browser(
    tmp_path: Path, chromium: Chromium, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "MODELS", {m: SimpleNamespace(dataset="digits") for m in MODELS})
    monkeypatch.setattr(transfer, "load_model", lambda name: MODELS[name]())
    out = tmp_path / "transfer.json"
    assert cli.main([*TRANSFER, "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    page = chromium.open_page(report(out), screenshot("transfer"))
    assert_clean_load(page, out.with_suffix(".html"))
    assert len(results["sources"]) == 3  # the two models and the ensemble row
    for source, rates in zip(results["sources"], results["success_rate"], strict=True):
        for target, rate in zip(results["targets"], rates, strict=True):
            assert value(page, key=target, row=source) == rate
    for target, count in zip(results["targets"], results["correct_clean"], strict=True):
        assert value(page, key=target, row="correct") == count
    assert "Transferability heat map (success rate, %). crafted on linear-ridge-1:" in page.text
    assert "it is not a measure of robustness" in page.text
    assert "ensemble of all other models" in page.text
