"""``--device``: every command that runs a model takes it; a device that is not there is
refused before any work, saying what to use instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cli_support import seed_demo_cache

from advkit.cli import main
from advkit.data import load_dataset
from advkit.data.samples import Samples
from advkit.demo import demo_model
from advkit.evaluate.verify import verify_results

MODEL_COMMANDS = ["attack", "certify", "detect", "evaluate", "train", "transfer", "universal"]
FAST = ["--suite", "fast", "--n", "4", "--eps-curve", "", "--quiet"]


@pytest.fixture(autouse=True)
def _workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in tmp_path, with an instant demo model in a fresh cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path / "cache"))
    seed_demo_cache(tmp_path / "cache")


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_every_model_command_takes_device(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--device" in capsys.readouterr().out


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``advkit argv``; check it is a usage error (status 2); return the error line."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_a_clear_error(
    device: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, ["evaluate", "--device", device, *FAST])
    assert f"{device}: no CUDA GPU is available" in line and "use --device cpu" in line


def test_an_unknown_device_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, ["attack", "--device", "tpu", "--n", "2"])
    assert "unknown device 'tpu'; use cpu, cuda, cuda:N or mps" in line


def test_evaluate_on_the_cpu_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--device", "cpu", *FAST, "--out", "ev.json"]) == 0


@pytest.mark.parametrize("command", ["attack", "evaluate"])
def test_attacks_take_precision(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--precision {fp32,bf16,fp16}" in capsys.readouterr().out


def test_evaluate_in_bf16_records_its_precision(tmp_path: Path) -> None:
    assert main(["evaluate", "--precision", "bf16", *FAST, "--out", "ev.json"]) == 0
    assert '"precision": "bf16"' in (tmp_path / "ev.json").read_text()


def test_verifying_an_evaluation_creates_nothing_on_a_fixed_device(tmp_path: Path) -> None:
    """The kept examples are checked on the data's device (``meta`` as the default device
    catches a tensor made elsewhere)."""
    argv = ["evaluate", "--device", "cpu", *FAST, "--n", "30", "--out", "ev.json"]
    assert main(argv) == 0
    model, (x, y) = demo_model(), load_dataset("digits", split="test", limit=30)
    with torch.device("meta"):
        check = verify_results(tmp_path / "ev.json", (model, Samples.of((x, y))))
    assert check.ok
