"""`advkit universal`: several ε in one run, the numbers as JSON and δ as an image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import one_line_error

from advkit import cli
from linear_digits import FACTORY

pytestmark = pytest.mark.usefixtures("single_thread")

ARGV = ["universal", "--model", FACTORY, "--dataset", "digits", "--train-n", "60", "--n", "80"]


def test_writes_json_and_image_for_every_eps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "u.json"
    argv = [*ARGV, "--eps", "0.05,0.3", "--passes", "2", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["schema_version"] >= 1 and res["train_n"] == 60 and res["held_out_n"] == 80
    rates = [r["held_out"]["fooling_rate"] for r in res["runs"]]
    assert [r["eps"] for r in res["runs"]] == [0.05, 0.3]
    assert rates[1] > rates[0] and "fooling" in printed
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_targeted_reports_the_target_rate(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    argv = [*ARGV, "--eps", "0.3", "--target", "3", "--passes", "2", "--out", str(out)]
    assert cli.main([*argv, "--quiet", "--json"]) == 0
    held = json.loads(out.read_text())["runs"][0]["held_out"]
    assert held["target_rate"] is not None and held["target_rate"] > 0.5


def test_refuses_a_wrong_image_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*ARGV, "--eps", "0.1", "--image", str(tmp_path / "d.jpg")]
    assert ".png" in one_line_error(capsys, argv)
