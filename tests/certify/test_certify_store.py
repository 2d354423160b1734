"""``advkit.certify(store=...)``: finished batches are stored and read back, not bounded
again; two gloo ranks whose one fails mid-run keep the others' batches, and the rerun
resumes to the certificates of one uninterrupted process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import advkit
from advkit.certify.task import CertTask
from advkit.data import load_dataset
from advkit.distributed import RankFailed, world
from advkit.store import StoreMismatch
from linear_digits import linear_digits
from ranks import on_two_ranks

pytestmark = pytest.mark.usefixtures("single_thread")

THREAT = advkit.Linf(0.02)
BATCH = 4
FAIL_AT = 13  # in samples 12–15, the second batch of rank 1
CROWN_RUN = advkit.CROWN.run


def digits(n: int = 24) -> tuple[Tensor, Tensor]:
    x, y = load_dataset("digits", split="test")
    return x[:n], y[:n]


def certified(store: Path | None) -> advkit.CertResult:
    x, y = digits()
    return advkit.certify(
        linear_digits(), x, y, THREAT, advkit.CROWN(), batch_size=BATCH, store=store
    )


def samples_of(task: CertTask) -> list[int]:
    """The indices of the samples a batch holds (the digits are distinct)."""
    x, _ = digits()
    return [i for i in range(len(x)) if any(torch.equal(x[i], row) for row in task.x)]


def watch(out: Path, fail: bool) -> None:
    """Make CROWN log the samples it bounds to ``out`` and, with ``fail``, raise on rank 1
    at sample FAIL_AT."""

    def run(self: advkit.CROWN, task: CertTask) -> Any:
        rows = samples_of(task)
        if fail and world()[0] == 1 and FAIL_AT in rows:
            raise RuntimeError("bounding failed on purpose")
        with (out / f"bounded-{world()[0]}.txt").open("a") as f:
            f.write("".join(f"{i}\n" for i in rows))
        return CROWN_RUN(self, task)

    advkit.CROWN.run = run  # type: ignore[method-assign]


def bounded(out: Path) -> set[int]:
    files = [out / f"bounded-{r}.txt" for r in (0, 1)]
    return {int(i) for f in files if f.exists() for i in f.read_text().split()}


def same(a: advkit.CertResult, b: advkit.CertResult) -> bool:
    return all(
        torch.equal(getattr(a, k), getattr(b, k))
        for k in ("lower", "class_lower", "certified", "attacked", "x_adv")
    )


def test_a_rerun_reads_every_batch_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alone, first = certified(None), certified(tmp_path / "cert.sqlite")
    monkeypatch.setattr(advkit.CROWN, "run", lambda self, task: pytest.fail("bounded again"))
    again = certified(tmp_path / "cert.sqlite")
    assert same(again, first) and same(first, alone)
    assert 0 < int(first.certified.sum()) < len(first.certified)


def test_a_store_of_another_certification_is_refused(tmp_path: Path) -> None:
    certified(tmp_path / "cert.sqlite")
    x, y = digits()
    with pytest.raises(StoreMismatch, match="method"):
        advkit.certify(
            linear_digits(),
            x,
            y,
            THREAT,
            advkit.IBP(),
            batch_size=BATCH,
            store=tmp_path / "cert.sqlite",
        )


def failing_job(out: Path) -> advkit.CertResult:
    watch(out, fail=True)
    return certified(out / "cert.sqlite")


def resuming_job(out: Path) -> advkit.CertResult:
    watch(out, fail=False)
    return certified(out / "cert.sqlite")


def test_a_failing_rank_keeps_the_other_batches_and_the_rerun_resumes(tmp_path: Path) -> None:
    for failed in on_two_ranks(failing_job, tmp_path):
        assert isinstance(failed, RankFailed)
        assert "rank 1 of 2 failed on samples 12–15" in str(failed)
        assert "bounding failed on purpose" in str(failed) and "resume" in str(failed)
    kept = bounded(tmp_path)
    assert set(range(12)) <= kept and not kept & set(range(12, 16))
    for path in tmp_path.glob("bounded-*.txt"):
        path.unlink()
    result, other = on_two_ranks(resuming_job, tmp_path)
    assert bounded(tmp_path) == set(range(12, 24))  # the stored batches are not bounded again
    alone = certified(None)
    assert same(result, alone) and same(other, alone)
