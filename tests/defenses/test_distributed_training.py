"""Training split over processes (DDP, gloo on CPU) is the single-process run.

Two gloo processes are spawned on CPU; their per-sample training losses, epoch losses and
final weights are compared with a single-process run of the same options. Tolerance:
1e-5 (relative and absolute): the gradient all-reduce sums the two halves of each batch
in another order than one backward pass over the batch, so the runs differ by float
rounding only (measured: at most 2.4e-7 on a per-sample loss and 4.5e-8 on a weight after
3 epochs of PGD training here); a bug (another batch, another example, a gradient twice
too large) moves the losses by 1e-2 or more from the first step on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn

import advkit
from advkit.cli import main
from advkit.data import load_dataset
from advkit.defenses import trainer
from advkit.defenses.distributed import KeyedDistributedSampler, Processes, epoch_order
from advkit.threat import ThreatModel

TOL = {"rtol": 1e-5, "atol": 1e-5}
N = 97  # 3 batches of 32 and a last batch of one sample: process 1 idles in that step
BATCH = 32


@dataclass(frozen=True)
class Recorded:
    """PGD training that records each sample's loss; raises once ``fail_at`` are recorded."""

    inner: Any = field(default_factory=lambda: advkit.PGDTraining(steps=3))
    log: list[tuple[int, int, float]] = field(default_factory=list)
    fail_at: int | None = None

    name: ClassVar[str] = "recorded"
    needs_threat: ClassVar[bool] = True

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        if self.fail_at is not None and len(self.log) >= self.fail_at:
            raise RuntimeError("injected failure")
        losses = self.inner.loss(model, x, y, threat, index, seed)
        values = losses.detach().tolist()
        self.log.extend((seed, i, v) for i, v in zip(index.tolist(), values, strict=True))
        return losses


def _data() -> tuple[Tensor, Tensor]:
    x, y = load_dataset("digits", split="train", limit=N)
    return x, y


def _model() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(3)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def _train(method: Recorded, **options: Any) -> tuple[dict[str, Tensor], list[dict[str, Any]]]:
    model = _model()
    settings: dict[str, Any] = {"epochs": 2, "batch_size": BATCH, "lr": 1e-2, "progress": False}
    settings.update(options)
    history = advkit.train(model, _data(), method, advkit.Linf(0.1), **settings)
    return model.state_dict(), history


def _worker(rank: int, out: Path, fail_at: int | None, options: dict[str, Any]) -> None:
    """One of two gloo processes: train, and save what it saw (or the error it raised)."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{out / 'rendezvous'}",
        rank=rank,
        world_size=2,
        timeout=timedelta(seconds=30),
    )
    saved_by: list[int] = []
    save = trainer.save_checkpoint
    trainer.save_checkpoint = lambda *a: (saved_by.append(rank), save(*a))[1]  # type: ignore[assignment]
    method = Recorded(fail_at=fail_at if rank == 1 else None)
    result: dict[str, Any] = {"log": method.log, "saved_by": saved_by}
    try:
        result["state"], result["history"] = _train(method, **options)
    except Exception as err:
        result["error"] = "\n".join([f"{type(err).__name__}: {err}", *err.__notes__])
    finally:
        torch.save(result, out / f"rank{rank}.pt")
        dist.destroy_process_group()


def _spawn(
    out: Path, fail_at: int | None = None, **options: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    out.mkdir(exist_ok=True)
    (out / "rendezvous").unlink(missing_ok=True)
    mp.start_processes(_worker, (out, fail_at, options), nprocs=2, start_method="spawn")
    return tuple(torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2))  # type: ignore[return-value]


def _by_sample(*logs: list[tuple[int, int, float]]) -> dict[tuple[int, int], float]:
    """Each sample's loss keyed by (epoch's attack seed, sample index)."""
    return {(seed, i): value for log in logs for seed, i, value in log}


def _assert_same_weights(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], **TOL)


def test_sampler_shares_are_the_single_process_batches() -> None:
    order = epoch_order(N, 7, 1)
    shares = [Processes(rank=r, size=2).batches(N, BATCH, 7, 1) for r in range(2)]
    assert [len(s) for s in shares] == [4, 4] and shares[1][-1].numel() == 0
    for k, start in enumerate(range(0, N, BATCH)):
        together = torch.cat([shares[0][k], shares[1][k]]).sort().values
        assert torch.equal(together, order[start : start + BATCH].sort().values)
    sampler = KeyedDistributedSampler(N, 7, num_replicas=2, rank=0)
    sampler.set_epoch(1)
    assert len(sampler) == 49 and list(sampler) == order[0::2].tolist()


def test_two_processes_train_the_single_process_run_resumed_from_rank_zero(
    tmp_path: Path,
) -> None:
    single = Recorded()
    state, history = _train(single)
    ckpt = tmp_path / "run.ckpt"
    first = _spawn(tmp_path / "a", epochs=1, checkpoint=ckpt)
    assert "error" not in first[0] and "error" not in first[1], first
    assert [r["saved_by"] for r in first] == [[0], []]  # only process 0 writes
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    resumed = _spawn(tmp_path / "b", checkpoint=ckpt, resume=True)
    assert [r["saved_by"] for r in resumed] == [[0], []]
    logs = [rank["log"] for rank in (*first, *resumed)]
    ours, theirs = _by_sample(single.log), _by_sample(*logs)
    assert ours.keys() == theirs.keys() and len(ours) == 2 * N
    keys = sorted(ours)
    torch.testing.assert_close(
        torch.tensor([theirs[k] for k in keys]), torch.tensor([ours[k] for k in keys]), **TOL
    )
    for rank in resumed:
        _assert_same_weights(rank["state"], state)
        got = [h["loss"] for h in rank["history"]]
        torch.testing.assert_close(
            torch.tensor(got), torch.tensor([h["loss"] for h in history]), **TOL
        )


def test_a_crashing_process_stops_all_with_the_last_checkpoint_kept(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.ckpt"
    # rank 1 trains 3 × 16 samples in epoch 1, then fails at the start of epoch 2
    ranks = _spawn(tmp_path / "a", fail_at=48, checkpoint=ckpt)
    assert ranks[1]["error"].startswith("RuntimeError: injected failure\nadvkit: training ")
    assert "Connection closed by peer" in ranks[0]["error"]
    for rank in (0, 1):
        assert f"training process {rank} of 2 stopped in epoch 2" in ranks[rank]["error"]
        assert f"checkpoint {ckpt} keeps the last finished epoch" in ranks[rank]["error"]
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    # the checkpoint of the 2-process run resumes on one process: it is the same run
    state, _ = _train(Recorded(), checkpoint=ckpt, resume=True)
    _assert_same_weights(state, _train(Recorded())[0])


def test_batchnorm_unsplittable_batches_and_certified_training_are_refused() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10))
    two, pgd = Processes(rank=0, size=2), advkit.PGDTraining()
    with pytest.raises(ValueError, match=r"BatchNorm layers \(2\).*convert_sync_batchnorm"):
        two.check(model, 32, pgd)
    two.check(nn.SyncBatchNorm.convert_sync_batchnorm(model), 32, pgd)  # SyncBatchNorm is fine
    with pytest.raises(ValueError, match="batch_size 32 cannot be split over 3 processes"):
        Processes(rank=0, size=3).check(_model(), 32, pgd)
    with pytest.raises(ValueError, match="certified training is not split over processes"):
        two.check(_model(), 32, advkit.CertifiedTraining("ibp"))


def _cli(tmp: Path, epochs: int, *extra: str) -> list[str]:
    return [
        "train", "--method", "fast", "--train-n", str(N), "--eval-n", "16", "--epochs", str(epochs),
        "--batch-size", str(BATCH), "--out", str(tmp / "m.pt"), "--quiet", *extra,
    ]  # fmt: skip


def test_cli_under_torchrun_resumes_a_checkpoint_and_matches_one_process(
    tmp_path: Path,
) -> None:
    assert main(_cli(tmp_path / "ddp", 1)) == 0  # a run stopped after epoch 1
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*torchrun, "--standalone", "-m", "advkit", *_cli(tmp_path / "ddp", 2, "--resume")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(_cli(tmp_path / "one", 2)) == 0
    ours = torch.load(tmp_path / "one" / "m.pt", weights_only=True)
    _assert_same_weights(torch.load(tmp_path / "ddp" / "m.pt", weights_only=True), ours)
