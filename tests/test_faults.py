"""Kills at random points lose nothing: an evaluation and a training run, each SIGKILLed
several times and restarted, end exactly where an uninterrupted run ends.

The runs are real ``advkit`` processes; a kill lands at a random moment (while importing,
between batches or epochs, or in the middle of a write), drawn from a seeded generator so
a failure reproduces.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from advkit.demo import train_digits_cnn

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

KILLS = 3
CLI = "import sys; from advkit.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The processes' environment: one thread each, an empty cache."""
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "ADVKIT_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo CNN's architecture, briefly trained (most test digits right)."""
    path = tmp_path_factory.mktemp("model") / "digits-cnn.pt"
    torch.save(train_digits_cnn(epochs=5).state_dict(), path)
    return path


def _advkit(args: list[str], env: dict[str, str], kill_after: float | None = None) -> int | None:
    """Run ``advkit args``; SIGKILL it after ``kill_after`` seconds. Its exit status, or
    None when it was killed before it finished."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, err
    return proc.returncode


def _timed(args: list[str], env: dict[str, str]) -> float:
    """Wall time of one uninterrupted run."""
    start = time.perf_counter()
    _advkit(args, env)
    return time.perf_counter() - start


def _killed_then_finished(args: list[str], env: dict[str, str], span: float, seed: int) -> int:
    """Kill ``args`` at ``KILLS`` random moments in [0, span), then let it finish.
    Returns how many of the kills interrupted a running process."""
    rng = random.Random(seed)
    interrupted = 0
    for _ in range(KILLS):
        interrupted += _advkit(args, env, kill_after=rng.uniform(0.0, span)) is None
    _advkit(args, env)
    return interrupted


def _rows(store: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store) as db:
        return sorted(db.execute("SELECT * FROM samples").fetchall())


def _result(out: Path) -> dict[str, Any]:
    """The JSON result without what depends on wall time."""
    res = json.loads(out.read_text())
    return {k: v for k, v in res.items() if k not in ("seconds", "time", "wall_seconds")}


def test_killed_evaluation_resumes_to_identical_results(
    tmp_path: Path, env: dict[str, str], weights: Path
) -> None:
    model = ["--model", "advkit.demo:digits_cnn", "--checkpoint", str(weights)]
    base = ["evaluate", *model, "--dataset", "digits", "--eps", "0.1", "--eps-curve", "0.05"]
    base += ["--suite", "fast", "--n", "32", "--batch-size", "8", "--quiet"]
    ref, run = tmp_path / "ref.json", tmp_path / "run.json"
    span = _timed([*base, "--out", str(ref)], env)
    interrupted = _killed_then_finished([*base, "--out", str(run)], env, span, seed=15)
    assert interrupted >= 1  # at least one kill landed while the run was working
    assert _rows(run.with_suffix(".sqlite")) == _rows(ref.with_suffix(".sqlite"))
    assert len(_rows(run.with_suffix(".sqlite"))) == 32 * 2  # n samples × (ε, curve ε)
    assert _result(run) == _result(ref)


def test_killed_training_resumes_to_identical_weights(tmp_path: Path, env: dict[str, str]) -> None:
    base = ["train", "--method", "fgsm", "--n", "128", "--eval-n", "32", "--epochs", "3"]
    ref, run = tmp_path / "ref" / "m.pt", tmp_path / "run" / "m.pt"
    span = _timed([*base, "--quiet", "--out", str(ref)], env)
    interrupted = _killed_then_finished(
        [*base, "--quiet", "--resume", "--out", str(run)], env, span, seed=15
    )
    assert interrupted >= 1
    a = torch.load(ref, weights_only=True)
    b = torch.load(run, weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _history(run) == _history(ref)


def _history(weights: Path) -> list[dict[str, Any]]:
    """The per-epoch history written beside the weights, without wall times."""
    history = json.loads(weights.with_suffix(".json").read_text())["history"]
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]
