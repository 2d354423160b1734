"""Output paths: checked before any work (distinct, writable, right suffix), written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from cli_support import one_line_error, seed_demo_cache

import advkit.data
from advkit.cli import common, main, transfer
from advkit.cli.outputs import atomic_write

TRANSFER = ["transfer", "--models", "lenet5-natural,lenet5-pgd", "--eps", "0.1"]


@pytest.fixture(autouse=True)
def _workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in tmp_path, with an instant demo model in a fresh cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path / "cache"))
    seed_demo_cache(tmp_path / "cache")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model or data fails the test: the paths must be refused before."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the output paths were checked")

    for module, name in [
        (common, "demo_model"),
        (common, "load_declared"),
        (transfer, "load_model"),
        (advkit.data, "load_digits_split"),
    ]:
        monkeypatch.setattr(module, name, boom)


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["evaluate", "--out", "r/run.sqlite"], ["r/run.sqlite", ".json"]),
        (["evaluate", "--out", "r/run.json", "--store", "r/run.json"], ["--store", ".sqlite"]),
        (["evaluate", "--adaptive", "--store", "r/s.npz"], ["r/s.npz", ".sqlite"]),
        (["train", "--out", "t/m.json"], ["t/m.json", ".pt"]),
        (["attack", "--out", "adv.txt"], ["adv.txt", ".npz"]),
        (["certify", "--out", "c.npz"], ["c.npz", ".json"]),
        (["detect", "--out", "d.txt"], ["d.txt", ".json"]),
        ([*TRANSFER, "--plot", "p.x"], ["p.x", ".png"]),
    ],
)
def test_colliding_or_misnamed_outputs_are_refused_before_any_work(
    argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = one_line_error(capsys, [*argv, "--quiet"])
    for needle in needles:
        assert needle in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # nothing written


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--out", "file/r.json"],
        ["evaluate", "--out", "r.json", "--store", "file/s.sqlite"],
        ["evaluate", "--out", "file/r.json", "--minimal", "deepfool", "--eps", "inf"],
        ["attack", "--out", "file/deeper/adv.npz"],
        ["train", "--out", "file/m.pt"],
        ["certify", "--out", "file/c.json"],
        ["detect", "--out", "file/d.json"],
        [*TRANSFER, "--out", "file/t.json"],
    ],
)
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("not a folder")
    line = one_line_error(capsys, [*argv, "--quiet"])
    assert "file is a file, not a folder" in line


@pytest.mark.usefixtures("no_work")
def test_an_output_over_an_input_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    weights = tmp_path / "w.pt"
    torch.save({"w": torch.ones(1)}, weights)
    before = weights.read_bytes()
    argv = ["attack", "--model", "advkit.demo:digits_cnn", "--checkpoint", str(weights)]
    line = one_line_error(capsys, [*argv, "--dataset", "digits", "--eps", "0.1", "--out", "w.pt"])
    assert "w.pt" in line and "--checkpoint" in line
    assert weights.read_bytes() == before


@pytest.mark.usefixtures("no_work")
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_refused_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "ro").mkdir(mode=0o500)
    line = one_line_error(capsys, ["attack", "--out", "ro/sub/adv.npz", "--quiet"])
    assert "ro/sub/adv.npz" in line and "not writable" in line


def test_attack_writes_the_file_it_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["attack", "--attack", "fgm", "--eps", "0.1", "--n", "4", "--out", "a/adv.npz"]
    assert main([*argv, "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == "a/adv.npz"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["adv.npz"]  # no temporary left


def test_train_writes_weights_checkpoint_and_history_side_by_side(tmp_path: Path) -> None:
    argv = ["train", "--method", "standard", "--epochs", "1", "--n", "16", "--eval-n", "4"]
    assert main([*argv, "--out", "t/m.pt", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["m.ckpt", "m.json", "m.pt"]
    torch.load(tmp_path / "t" / "m.pt", weights_only=True)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "results" / "r.json"
    path.parent.mkdir()
    path.write_text("previous results")

    def half_then_fail(tmp: Path) -> None:
        assert tmp.parent == path.parent and tmp.suffix == ".json"
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full") as failure:
        atomic_write(path, half_then_fail)
    assert failure.value.filename == str(path)  # named in the one-line error
    assert path.read_text() == "previous results"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
