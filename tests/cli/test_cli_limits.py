"""What the options cannot give: --n beyond the split is said, ε = inf is refused where no
attack can use it, and infinite values are written as strict JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from cli_support import one_line_error, seed_demo_cache

import advkit.data
from advkit.cli import common, main


@pytest.fixture(autouse=True)
def _workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in tmp_path, with an instant demo model in a fresh cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path / "cache"))
    seed_demo_cache(tmp_path / "cache")


def test_n_beyond_the_split_is_said(caplog: pytest.LogCaptureFixture) -> None:
    argv = ["attack", "--attack", "fgm", "--eps", "0.1", "--n", "5000", "--out", "a.npz"]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "--quiet"]) == 0
    assert "--n 5000: digits/test has only 599 samples; using all 599" in caplog.text
    assert np.load("a.npz")["x"].shape[0] == 599


def test_eval_n_beyond_the_split_is_said(caplog: pytest.LogCaptureFixture) -> None:
    argv = ["train", "--epochs", "0", "--n", "16", "--eval-n", "1000", "--out", "m.pt"]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "--quiet"]) == 0
    assert "--eval-n 1000: digits/test has only 599 samples" in caplog.text


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["evaluate", "--eps", "inf", "--suite", "fast", "--out", "r/e.json"], "--eps"),
        (["evaluate", "--eps-curve", "0.05,inf", "--out", "r/e.json"], "--eps-curve"),
        (["attack", "--attack", "pgd", "--eps", "inf", "--out", "r/a.npz"], "--eps"),
        (["transfer", "--models", "lenet5-natural,lenet5-pgd", "--eps", "inf"], "--eps"),
        (["train", "--eps", "inf", "--out", "r/m.pt"], "--eps"),
    ],
)
def test_eps_inf_is_refused_for_fixed_eps_attacks_before_any_work(
    argv: list[str],
    option: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before --eps inf was refused")

    monkeypatch.setattr(common, "demo_model", boom)
    monkeypatch.setattr(advkit.data, "load_digits_split", boom)
    line = one_line_error(capsys, [*argv, "--quiet"])
    assert line.startswith(f"advkit: error: {option} inf: ") and "finite radius" in line
    assert not (tmp_path / "r").exists()  # no store, no result


def test_infinite_values_are_written_as_strict_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--minimal", "deepfool", "--eps", "inf", "--eps-curve", "0.1,inf"]
    assert main([*argv, "--n", "4", "--out", "m.json", "--quiet", "--json"]) == 0

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    printed = json.loads(capsys.readouterr().out, parse_constant=refuse)
    written = json.loads(Path("m.json").read_text(), parse_constant=refuse)
    for result in (printed, written):
        assert [c["eps"] for c in result["curve"]] == [0.1, "inf"]
        assert float(result["curve"][1]["eps"]) == float("inf")
