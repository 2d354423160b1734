"""Two runs on one store do the work once: the second waits for the first, then reads
every batch back; a run killed with SIGKILL never blocks the next one."""

from __future__ import annotations

import importlib
import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from torch import Tensor, nn

import advkit
from advkit import APGD
from advkit.store import ResultStore

pytestmark = pytest.mark.usefixtures("single_thread")

run_module = importlib.import_module("advkit.evaluate.run")
WAITING = "waiting for another advkit run"


def wait_for(condition: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def waiting_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return any(WAITING in r.getMessage() for r in caplog.records)


def test_a_second_run_waits_and_reads_the_first_runs_batches_back(
    tiny_cnn: nn.Module,
    tiny_batch: tuple[Tensor, Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    attack_batch = run_module._attack_batch
    calls: Counter[str] = Counter()
    first_started, go_on = threading.Event(), threading.Event()

    def counting(*args: Any, **kw: Any) -> Any:
        me = threading.current_thread().name
        calls[me] += 1
        if me == "first":  # hold the first run until the second is waiting
            first_started.set()
            go_on.wait(timeout=60)
        return attack_batch(*args, **kw)

    monkeypatch.setattr(run_module, "_attack_batch", counting)
    results: dict[str, advkit.Evaluation] = {}

    def run() -> None:
        results[threading.current_thread().name] = advkit.evaluate(
            tiny_cnn,
            tiny_batch,
            advkit.Linf(0.05),
            [("apgd-ce", APGD(steps=3))],
            batch_size=4,
            store=tmp_path / "S.sqlite",
            progress=False,
            checks=False,
        )

    first = threading.Thread(target=run, name="first")
    second = threading.Thread(target=run, name="second")
    first.start()
    try:
        assert first_started.wait(timeout=60)
        second.start()
        wait_for(lambda: waiting_logged(caplog) or not second.is_alive())
        assert waiting_logged(caplog)
    finally:
        go_on.set()
        first.join(timeout=60)
        if second.ident is not None:
            second.join(timeout=60)
    assert calls == {"first": 3}  # three batches, computed once
    assert results["second"].samples == results["first"].samples


HOLDER = """
import importlib.util, pathlib, sys, time
spec = importlib.util.spec_from_file_location("store_lock", sys.argv[1])
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)
lock.StoreLock(pathlib.Path(sys.argv[2]))
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_run_releases_the_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    store = tmp_path / "S.sqlite"
    lock_file = Path(importlib.import_module("advkit.store_lock").__file__ or "")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_file), str(store)],
        stdout=subprocess.PIPE,
        text=True,
    )
    opened: list[Path] = []

    def open_and_close() -> None:
        db = ResultStore(store, {"n": 1})
        opened.append(db.path)
        db.close()

    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        opener = threading.Thread(target=open_and_close)
        opener.start()
        wait_for(lambda: waiting_logged(caplog))
        assert not opened  # still waiting
        holder.send_signal(signal.SIGKILL)
        opener.join(timeout=30)
        assert opened == [store]
    finally:
        holder.kill()
        holder.wait()
