"""``advkit evaluate --estimates``: every record holds its CLEVER score and margin radius,
the output says CLEVER is an estimate, and a rerun resumes them from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advkit import cli
from linear_digits import FACTORY

ARGV = ["evaluate", "--model", FACTORY, "--dataset", "digits", "--n", "6", "--suite", "fast"]
ARGV += ["--norm", "l2", "--eps", "1.0", "--estimates", "--skip-verify", "--out", "r.json"]


def test_estimates_are_in_the_records_the_table_and_the_resumed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(ARGV) == 0
    assert "never a certificate" in capsys.readouterr().out
    first = json.loads(Path("r.json").read_text())
    records = first["samples"]["1.0"]
    assert all(r["clever"] is not None and r["margin_radius"] is not None for r in records)
    assert "clever_overestimated" in first["estimates"]
    assert cli.main([*ARGV, "--quiet"]) == 0  # resumed from r.sqlite
    assert json.loads(Path("r.json").read_text())["samples"] == first["samples"]
