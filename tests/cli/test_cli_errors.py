"""Expected failures: one line naming the file and the fix, exit status 2; --debug raises."""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from cli_support import one_line_error, seed_demo_cache

from advkit.cli import listing, main
from advkit.cli.errors import UsageError, explain
from advkit.demo import demo_cache_path, digits_cnn
from advkit.store_lock import StoreLock

FAST = ["--suite", "fast", "--n", "8", "--eps-curve", "", "--quiet"]


class Custom:
    """A class torch.load(weights_only=True) must refuse to unpickle."""


@pytest.fixture(autouse=True)
def _workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in tmp_path, with an instant demo model in a fresh cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path / "cache"))
    seed_demo_cache(tmp_path / "cache")


def _with_checkpoint(path: Path) -> list[str]:
    model = ["--model", "advkit.demo:digits_cnn", "--checkpoint", str(path)]
    return ["evaluate", *model, "--dataset", "digits", "--eps", "0.1", *FAST]


def test_a_refused_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    torch.save({"w": torch.ones(1), "extra": Custom()}, tmp_path / "custom.pt")
    line = one_line_error(capsys, _with_checkpoint(tmp_path / "custom.pt"))
    assert "custom.pt" in line and "state_dict()" in line


@pytest.mark.parametrize(
    "content",
    [os.urandom(4096), b"", "half"],
    ids=["random bytes", "empty", "truncated"],
)
def test_a_garbage_checkpoint(
    content: bytes | str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "garbage.pt"
    if content == "half":
        torch.save({"w": torch.ones(1000)}, path)
        content = path.read_bytes()[:2000]
    path.write_bytes(bytes(content))
    line = one_line_error(capsys, _with_checkpoint(path))
    assert "garbage.pt is not a PyTorch checkpoint" in line
    assert "custom classes" not in line


def test_a_legacy_checkpoint_still_loads(tmp_path: Path) -> None:
    """The format check knows torch.save's pre-1.6 format too."""
    path = tmp_path / "legacy.pt"
    torch.save(digits_cnn().state_dict(), path, _use_new_zipfile_serialization=False)
    assert main([*_with_checkpoint(path), "--out", "r.json"]) == 0


def test_an_offline_download(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    line = one_line_error(capsys, ["train", "--dataset", "mnist", "--out", "m.pt", "--quiet"])
    assert "could not download train-images-idx3-ubyte.gz" in line and "--data-dir" in line


def test_a_corrupt_store_is_named_and_fresh_recovers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.sqlite").write_bytes(b"not a database " * 100)
    line = one_line_error(capsys, ["evaluate", "--out", "r/run.json", *FAST])
    assert "r/run.sqlite" in line and "--fresh" in line
    assert main(["evaluate", "--out", "r/run.json", *FAST, "--fresh"]) == 0


def test_fresh_waits_for_a_run_still_writing_the_store(tmp_path: Path) -> None:
    """--fresh never deletes a store under a run that holds it: it waits for that run."""
    assert main(["evaluate", "--out", "r.json", *FAST]) == 0
    held = StoreLock(tmp_path / "r.sqlite")  # another run, still writing
    rc: list[int] = []
    fresh = threading.Thread(
        target=lambda: rc.append(
            main(["evaluate", "--out", "r.json", *FAST, "--fresh", "--seed", "1"])
        )
    )
    fresh.start()
    fresh.join(timeout=2.0)
    assert fresh.is_alive()
    with sqlite3.connect(tmp_path / "r.sqlite") as db:  # the other run's rows are intact
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] > 0
    held.release()
    fresh.join(timeout=120.0)
    assert rc == [0]


def test_a_store_of_another_run_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["evaluate", "--out", "r.json", *FAST]) == 0
    line = one_line_error(capsys, ["evaluate", "--out", "r.json", *FAST, "--seed", "1"])
    assert "r.sqlite" in line and "--fresh" in line


def test_a_truncated_demo_cache_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cached = demo_cache_path(tmp_path / "cache")
    cached.write_bytes(cached.read_bytes()[:1000])
    line = one_line_error(capsys, ["evaluate", "--out", "r.json", *FAST])
    assert str(cached) in line and "delete it" in line


@pytest.mark.parametrize(("suite", "norm"), [("plus", "l1"), ("standard", "l0")])
def test_a_suite_at_a_norm_it_is_not_for_is_refused_before_any_work(
    suite: str, norm: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("advkit.cli.evaluate.model_and_data", boom)
    argv = ["evaluate", "--suite", suite, "--norm", norm, "--eps", "2", "--out", "r.json"]
    line = one_line_error(capsys, [*argv, "--quiet"])
    assert f"suite '{suite}' is defined for" in line and f"not {norm}" in line
    assert "choose one of" in line and "'fast'" in line


def test_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["attack", "--n", "0", "--out", "a.npz", "--quiet"])
    assert "--n must be >= 1" in line


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where: str) -> None:
    argv = ["attack", "--out", "adv.txt", "--quiet"]
    with pytest.raises(UsageError, match=r"adv\.txt"):
        main(["--debug", *argv] if where == "before" else [*argv, "--debug"])


def test_explain_gives_one_line_and_leaves_bugs_alone() -> None:
    denied = PermissionError(13, "Permission denied", "results/r.json")
    assert explain(denied) == (
        "results/r.json: permission denied; choose another path or fix the permissions"
    )
    assert explain(ValueError("first\n  second")) == "first second"
    assert explain(ZeroDivisionError("a bug")) is None


def test_ctrl_c_is_one_line_and_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(listing, "run", interrupted)
    assert main(["list"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rerun the same command to resume" in err
    with pytest.raises(KeyboardInterrupt):
        main(["--debug", "list"])
