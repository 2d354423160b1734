"""The report of ``advkit attack --report --cases`` (DeepFool on the digits): opened in
headless Chromium, it loads without errors or network, shows the JSON's success rates and
distortions per case, and one histogram per case of the distances the attack found."""

from __future__ import annotations

import json
import math
import statistics
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

ATTACK = ["attack", "--model", "linear_digits:linear_digits", "--dataset", "digits",
          "--n", "12", "--norm", "l2", "--eps", "inf", "--attack", "deepfool",
          "--report", "--cases", "--quiet", "--json"]  # fmt: skip
"""DeepFool (minimal L2) on the closed-form linear digits model, with the target cases."""

CASES = ("untargeted", "best", "average", "worst")


def test_attack_json_holds_each_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _attack(tmp_path, capsys)
    for case in CASES:
        stats = _stats(results, case)
        assert len(stats["success"]) == stats["n"] == 12
        assert len(stats["distances"]) == sum(stats["success"])
        assert statistics.median_low(stats["distances"]) == pytest.approx(stats["median"]["l2"])


def test_attack_report_shows_the_json_in_a_browser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chromium: Chromium
) -> None:
    results = _attack(tmp_path, capsys)
    out = tmp_path / "attack.json"
    page = chromium.open_page(report(out), screenshot("attack"))
    assert_clean_load(page, out.with_suffix(".html"))
    for case in CASES:
        stats = _stats(results, case)
        assert value(page, key="n", row=case) == stats["n"]
        assert value(page, key="success_rate", row=case) == stats["success_rate"]
        for norm in ("l0", "l1", "l2", "linf"):
            for stat in ("mean", "median"):
                shown = value(page, key=f"{stat}-{norm}", row=case)
                wanted = float(stats[stat][norm])
                assert shown == wanted or (math.isnan(shown) and math.isnan(wanted))
        d = stats["distances"]
        assert (
            f"{len(d)} samples, smallest {min(d):.4g}, median {statistics.median(d):.4g}, "
            f"largest {max(d):.4g}" in page.text
        )
    assert "found by the attack" in page.text and "upper bound" in page.text
    assert "DeepFool" in page.text and "L2 norm, input units" not in page.text  # in the PNG
    assert page.text.count("Histogram of the L2 distances of the examples") == len(CASES)


def _attack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    """Run ``advkit attack --report --cases --json``; save what it printed as attack.json."""
    assert cli.main([*ATTACK, "--out", str(tmp_path / "adv.npz")]) == 0
    text = capsys.readouterr().out
    (tmp_path / "attack.json").write_text(text)
    return dict(json.loads(text))


def _stats(results: dict, case: str) -> dict:
    """The JSON's part for ``case``: the plain run's distortion, or a target case."""
    return dict(results["distortion"] if case == "untargeted" else results["target_cases"][case])
