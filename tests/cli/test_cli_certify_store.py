"""``advkit certify --store``: a rerun reads the finished batches back, not bounding them
again, and writes the same per-sample results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import advkit
from advkit import cli
from linear_digits import FACTORY

ARGV = ["certify", "--model", FACTORY, "--dataset", "digits", "--n", "12", "--eps", "0.02"]
ARGV += ["--batch-size", "4", "--store", "c.sqlite", "--out", "c.json", "--json"]


def test_a_rerun_with_the_store_bounds_nothing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(ARGV) == 0
    first = json.loads(Path("c.json").read_text())
    monkeypatch.setattr(advkit.CROWN, "run", lambda self, task: pytest.fail("bounded again"))
    assert cli.main(ARGV) == 0
    assert json.loads(Path("c.json").read_text())["samples"] == first["samples"]
