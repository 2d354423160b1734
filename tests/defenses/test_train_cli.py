"""`advkit train`: writes a weights_only state dict, a history, and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from advkit import cli
from advkit.demo import digits_cnn


def test_train_writes_loadable_weights_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.pt"
    base = ["train", "--method", "fast", "--n", "128", "--eval-n", "32", "--out", str(out)]
    assert cli.main([*base, "--epochs", "1", "--quiet"]) == 0
    assert "robust(PGD-10)" in capsys.readouterr().out
    model = digits_cnn()
    model.load_state_dict(torch.load(out, weights_only=True))
    assert cli.main([*base, "--epochs", "2", "--resume", "--quiet", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["method"] == "fast" and record["arch"] == "digits-cnn"
    assert json.loads(out.with_suffix(".json").read_text()) == record


def test_train_rejects_an_architecture_that_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["train", "--arch", "lenet5", "--epochs", "0", "--out", str(tmp_path / "m.pt")])
    assert rc == 2 and "does not fit" in capsys.readouterr().err


def test_train_resume_refuses_another_method_and_threat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.pt"
    base = ["train", "--n", "64", "--eval-n", "16", "--out", str(out), "--quiet"]
    assert cli.main([*base, "--method", "standard", "--epochs", "1"]) == 0
    first = out.with_suffix(".ckpt").read_bytes()
    argv = [*base, "--method", "pgd", "--eps", "0.3", "--epochs", "2", "--resume"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Standard()" in err and "PGDTraining(" in err and "eps=0.3" in err
    assert "--out" in err
    assert out.with_suffix(".ckpt").read_bytes() == first
    assert json.loads(out.with_suffix(".json").read_text())["method"] == "standard"
