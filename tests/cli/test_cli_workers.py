"""``advkit evaluate --workers 2``: two ranks launched through torch.distributed.run
(``python -m advkit`` each) write the records and examples of the one-process run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import one_line_error

from advkit import cli
from linear_digits import FACTORY

ROOT = Path(__file__).resolve().parents[2]
ARGV = ["evaluate", "--model", FACTORY, "--dataset", "digits", "--n", "16", "--suite", "fast"]
ARGV += ["--eps", "0.1", "--eps-curve", "0.2", "--batch-size", "4", "--quiet", "--json"]


@pytest.mark.usefixtures("single_thread")
def test_two_workers_write_the_results_of_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])  # the ranks import both
    monkeypatch.setenv("PYTHONPATH", path)
    assert cli.main([*ARGV, "--out", "one.json"]) == 0
    assert cli.main([*ARGV, "--out", "two.json", "--workers", "2"]) == 0
    one, two = (json.loads(Path(f"{name}.json").read_text()) for name in ("one", "two"))
    assert two["samples"] == one["samples"]
    assert two["robust_accuracy"] == one["robust_accuracy"] < one["clean_accuracy"]
    evidence = [r["adversarial_examples"]["sha256"] for r in (one, two)]
    assert evidence[0] == evidence[1]  # the same adversarial examples, byte for byte


def test_workers_below_one_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, [*ARGV, "--workers", "0"])
    assert "--workers 0" in line and "--workers 2" in line
