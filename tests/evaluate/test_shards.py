"""Two gloo ranks on the CPU evaluate and certify exactly as one process does; a rank
that fails mid-run loses nothing stored, and the rerun resumes without recomputing."""

from __future__ import annotations

import importlib
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import APGD, Square
from advkit.data import load_dataset
from advkit.distributed import RankFailed, world
from linear_digits import linear_digits
from ranks import on_two_ranks

pytestmark = pytest.mark.usefixtures("single_thread")

run_module = importlib.import_module("advkit.evaluate.run")

SUITE = [("apgd-ce", APGD(steps=5)), ("square", Square(queries=30))]
THREAT = advkit.Linf(0.1)
CURVE = (0.2,)
BATCH = 4
FAIL_AT = 13  # in samples 12–15, the second batch of rank 1


def digits(n: int = 24) -> tuple[Tensor, Tensor]:
    x, y = load_dataset("digits", split="test")
    return x[:n], y[:n]


def evaluation(model: nn.Module, store: Path) -> advkit.Evaluation:
    return advkit.evaluate(
        model,
        digits(),
        THREAT,
        SUITE,
        eps_curve=CURVE,
        batch_size=BATCH,
        store=store,
        progress=False,
    )


def evaluate_job(out: Path) -> tuple[advkit.Evaluation, Any]:
    model = linear_digits()
    x, y = digits()
    certified = advkit.certify(model, x, y, THREAT, advkit.CROWN(), batch_size=BATCH)
    return evaluation(model, out / "run.sqlite"), certified


def failing_job(out: Path) -> advkit.Evaluation:
    attack = run_module.attack

    def failing(*args: Any, index: Tensor, **kw: Any) -> Any:
        if FAIL_AT in index.tolist():
            raise RuntimeError("out of memory on purpose")
        return attack(*args, index=index, **kw)

    run_module.attack = failing  # type: ignore[assignment]
    return evaluation(linear_digits(), out / "run.sqlite")


def resuming_job(out: Path) -> advkit.Evaluation:
    """The evaluation again; it writes the samples it attacks to attacked-<rank>.txt."""
    attack = run_module.attack
    seen = out / f"attacked-{world()[0]}.txt"

    def counting(*args: Any, index: Tensor, **kw: Any) -> Any:
        with seen.open("a") as f:
            f.write("".join(f"{i}\n" for i in index.tolist()))
        return attack(*args, index=index, **kw)

    run_module.attack = counting  # type: ignore[assignment]
    return evaluation(linear_digits(), out / "run.sqlite")


def assert_same(a: advkit.Evaluation, b: advkit.Evaluation) -> None:
    assert a.samples == b.samples
    assert a.curve == b.curve and a.masking == b.masking
    assert a.examples.keys() == b.examples.keys()
    for i, ex in a.examples.items():
        other = b.examples[i]
        assert (ex.attack, ex.distance, ex.eps) == (other.attack, other.distance, other.eps)
        assert torch.equal(ex.x_adv, other.x_adv) and torch.equal(ex.logits, other.logits)


def test_two_ranks_give_the_records_and_certificates_of_one_process(tmp_path: Path) -> None:
    model = linear_digits()
    alone = evaluation(model, tmp_path / "alone.sqlite")
    x, y = digits()
    crown = advkit.certify(model, x, y, THREAT, advkit.CROWN(), batch_size=BATCH)
    (ev0, cert0), (ev1, cert1) = on_two_ranks(evaluate_job, tmp_path)
    assert any(not r.robust and r.broken_by != "clean" for r in alone.samples[0.1])
    assert_same(ev0, alone)
    assert_same(ev1, alone)  # every rank returns rank 0's result
    for cert in (cert0, cert1):
        assert torch.equal(cert.lower, crown.lower) and torch.equal(cert.certified, crown.certified)


def test_a_failing_rank_loses_nothing_stored_and_the_rerun_resumes(tmp_path: Path) -> None:
    failed0, failed1 = on_two_ranks(failing_job, tmp_path)
    for failed in (failed0, failed1):
        assert isinstance(failed, RankFailed)
        message = str(failed)
        assert "rank 1 of 2 failed on samples 12–15" in message
        assert "out of memory on purpose" in message and "rerun" in message
    stored = stored_indices(tmp_path / "run.sqlite")
    assert set(range(12)) <= stored and not stored & set(range(12, 16))
    again, _ = on_two_ranks(resuming_job, tmp_path)
    attacked = {int(i) for r in (0, 1) for i in attacked_lines(tmp_path / f"attacked-{r}.txt")}
    assert attacked and attacked <= set(range(12, 24))  # nothing stored is recomputed
    assert_same(again, evaluation(linear_digits(), tmp_path / "alone.sqlite"))


def attacked_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def stored_indices(path: Path) -> set[int]:
    """The samples whose records the store holds at every ε."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT idx FROM samples GROUP BY idx HAVING COUNT(*) = 2")
        return {i for (i,) in rows}


def curve_job(out: Path) -> advkit.Evaluation:
    return evaluation(linear_digits(), out / "main-eps.sqlite")


def test_a_store_of_fewer_eps_values_is_finished_by_two_ranks(tmp_path: Path) -> None:
    model = linear_digits()
    advkit.evaluate(
        model,
        digits(),
        THREAT,
        SUITE,
        batch_size=BATCH,
        store=tmp_path / "main-eps.sqlite",
        progress=False,
    )  # the main ε only: every batch is stored at one ε of two
    more, _ = on_two_ranks(curve_job, tmp_path)
    assert_same(more, evaluation(model, tmp_path / "alone.sqlite"))
