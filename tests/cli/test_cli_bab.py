"""``advkit certify --method bab``: branch and bound from the command line, with its time
limit, deciding every sample as certified, attacked or unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import seed_demo_cache

from advkit import cli


def test_certify_method_bab_honours_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path / "cache"))
    seed_demo_cache(tmp_path / "cache")
    argv = ["certify", "--method", "bab", "--time-limit", "0.5", "--n", "2", "--eps", "0.02"]
    assert cli.main([*argv, "--json", "--quiet", "--out", "c.json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"].startswith("BaB(time_limit=0.5")
    assert summary["seconds"] < 2 * 0.5 * 2 + 5  # the limit per sample, plus tracing
    records = json.loads((tmp_path / "c.json").read_text())["samples"]
    assert {r["status"] for r in records} <= {"certified", "attacked", "unknown"}
