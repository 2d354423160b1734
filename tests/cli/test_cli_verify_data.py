"""`--data-dir` files are checked against the dataset's official SHA-256; `--no-verify-data`
accepts a custom copy (every command that reads a data folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advkit import cli
from advkit.data.idx import write_idx
from shared_data import shared_path


def _custom_mnist(folder: Path) -> Path:
    """A custom MNIST-shaped copy (random pixels, 8 samples per split)."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, 8, dtype=np.uint8))
    return folder


def test_evaluating_an_mnist_model_on_fashion_mnist_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared_path("models/advertorch/mnist_lenet5_advtrained.pt")
    fashion = shared_path("datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").parent
    argv = ["attack", "--model", "lenet5-pgd", "--data-dir", str(fashion), "--eps", "0.3"]
    assert cli.main([*argv, "--attack", "fgm", "--n", "8", "--out", str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST's, not MNIST's" in err and "--dataset fashion-mnist" in err
    assert not (tmp_path / "a.npz").exists()


def test_train_needs_no_verify_data_for_a_custom_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _custom_mnist(tmp_path / "custom")
    argv = ["train", "--dataset", "mnist", "--data-dir", str(data), "--method", "standard"]
    argv += ["--epochs", "1", "--quiet", "--out", str(tmp_path / "m.pt")]
    assert cli.main(argv) == 2
    assert "--no-verify-data" in capsys.readouterr().err
    assert cli.main([*argv, "--no-verify-data"]) == 0
    assert (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("command", ["attack", "transfer"])
def test_model_commands_take_no_verify_data(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared_path("models/alpha_beta_crown/toy_mnist_2_20.pth")
    shared_path("models/auto_lirpa/mnist_fc_3layer.pth")
    data = _custom_mnist(tmp_path / "custom")
    model = (
        ["--model", "toy-mnist-2-20"]
        if command == "attack"
        else ["--models", "toy-mnist-2-20,fc-3layer"]
    )
    argv = [command, *model, "--data-dir", str(data), "--eps", "0.1", "--attack", "fgm"]
    argv += [
        "--n",
        "4",
        "--quiet",
        "--out",
        str(tmp_path / ("a.npz" if command == "attack" else "t.json")),
    ]
    assert cli.main(argv) == 2
    assert "not the official MNIST file" in capsys.readouterr().err
    assert cli.main([*argv, "--no-verify-data"]) == 0
