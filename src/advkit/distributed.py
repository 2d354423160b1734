"""Many processes on torch.distributed: the batches of one run shared among its ranks.

Under ``torchrun --nproc-per-node K`` (or ``advkit evaluate --workers K``) every rank
loads the same model and data; the batches of samples (consecutive indices, the same
batches as one process forms) are dealt out among the ranks, each rank computes its own,
and after each round of batches rank 0 gathers every rank's results, stores them and, at
the end, finishes the run alone (checks, result files) and sends its result to the
others. Each batch is computed exactly as one process computes it, and every random
choice is keyed by (seed, sample index) (:mod:`advkit.engine.rng`), so the records are
the ones a single process finds.

A rank that fails on a batch is not left to hang the others: every rank finishes the
round, rank 0 stores what the others found, and every rank raises :class:`RankFailed`
naming the rank, its samples and the error, so a rerun resumes from what was stored.

Example:
    >>> from advkit.distributed import gather_batches, world
    >>> world()  # outside torchrun: one process
    (0, 1)
    >>> gather_batches([range(0, 2), range(2, 3)], lambda b: sum(b))
    [1, 2]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "GROUP_TIMEOUT",
    "RERUN",
    "RESUME",
    "RankFailed",
    "backend_for",
    "from_main",
    "gather_batches",
    "is_main",
    "process_group",
    "quiet_unless_main",
    "run_rounds",
    "to_cpu",
    "under_launcher",
    "world",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

GROUP_TIMEOUT = timedelta(hours=12)
"""How long a rank waits for the others at a collective: rank 0 finishes the run alone
(masking checks, certification) while the other ranks wait for its result."""


RERUN = "fix the cause and rerun the same command"
"""What to do after a rank failed in a run that keeps nothing to resume from."""

RESUME = (
    "every finished batch is kept in the store: fix the cause and rerun the same command "
    "to resume from them"
)
"""What to do after a rank failed in a run with a store."""


class RankFailed(RuntimeError):
    """A rank of a distributed run failed on one of its batches (every rank raises it)."""


@dataclass(frozen=True)
class _Done:
    """One rank's result on one batch, sent to rank 0."""

    batch: range
    result: Any


@dataclass(frozen=True)
class _Failed:
    """What one rank reports when it failed on a batch."""

    rank: int
    batch: range
    error: str


def world() -> tuple[int, int]:
    """(this process's rank, the number of ranks): (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process is rank 0 (or the only process): the one that writes files."""
    return world()[0] == 0


def under_launcher() -> bool:
    """Whether a launcher (torchrun) started this process as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def backend_for(device: str | None) -> str:
    """The process-group backend for ``device``: gloo on the CPU, NCCL on CUDA (with gloo
    for the Python objects the ranks exchange, which live in CPU memory)."""
    if device is not None and device.startswith("cuda"):
        return "cpu:gloo,cuda:nccl"
    return "gloo"


@contextmanager
def process_group(device: str | None = None) -> Iterator[None]:
    """Join the launcher's process group for the duration (nothing outside a launcher).

    Args:
        device: the device the run uses (``cpu``, ``cuda``...; None: the CPU); on CUDA
            each rank takes the GPU of its local rank.

    Example:
        >>> with process_group():  # one process: no group, nothing to join
        ...     world()
        (0, 1)
    """
    if not under_launcher() or dist.is_initialized():
        yield
        return
    if device is not None and device.startswith("cuda"):
        torch.cuda.set_device(_local_gpu())
    dist.init_process_group(backend_for(device), timeout=GROUP_TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


@contextmanager
def quiet_unless_main() -> Iterator[None]:
    """advkit's log at warnings only on ranks other than 0, for the duration."""
    package = logging.getLogger("advkit")
    level = package.level
    if not is_main():
        package.setLevel(logging.WARNING)
    try:
        yield
    finally:
        package.setLevel(level)


def _local_gpu() -> int:
    """The GPU of this rank: its local rank, or an error when the machine has fewer."""
    local, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local >= count:
        raise ValueError(
            f"rank {local} of this machine needs GPU {local}, but it has {count}; start at "
            f"most {count} processes per machine (--workers / --nproc-per-node), or run on "
            "the CPU"
        )
    return local


def from_main(value: T | None) -> T:
    """Rank 0's ``value`` on every rank (the other ranks pass None); ``value`` itself in
    one process.

    Example:
        >>> from_main({"accuracy": 0.9})
        {'accuracy': 0.9}
    """
    if world()[1] == 1:
        if value is None:
            raise ValueError("from_main needs the value in a single process")
        return value
    box: list[Any] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def to_cpu(value: T) -> T:
    """``value`` with every tensor in it (in tuples, lists, dicts, dataclasses) on the CPU,
    as the ranks exchange it.

    Example:
        >>> to_cpu((torch.zeros(1), [torch.ones(1)]))
        (tensor([0.]), [tensor([1.])])
    """
    if isinstance(value, Tensor):
        return value.cpu()  # type: ignore[return-value]
    if isinstance(value, tuple | list):
        return type(value)(to_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}  # type: ignore[return-value]
    if is_dataclass(value) and not isinstance(value, type):
        tensors = {f.name: to_cpu(getattr(value, f.name)) for f in fields(value)}
        return replace(value, **tensors)
    return value


def run_rounds(
    batches: Sequence[range],
    owners: Sequence[int],
    compute: Callable[[range], R],
    then: str,
) -> Iterator[tuple[range, R, int]]:
    """Every rank computes the batches it owns, one per round; rank 0 receives them all.

    After each round rank 0 yields ``(batch, result, rank)`` for every rank's result (its
    own included, tensors on the CPU), in rank order; the other ranks yield nothing and
    must iterate to the end all the same. When any rank failed, every rank raises
    :class:`RankFailed` once rank 0 has taken the others' results of that round.

    Args:
        batches: the batches to compute, the same list on every rank.
        owners: the rank that computes each batch.
        compute: one batch's result.
        then: what the user should do after a failure (how to resume), for the message.
    """
    rank, size = world()
    mine = [b for b, owner in zip(batches, owners, strict=True) if owner == rank]
    for k in range(max(list(owners).count(r) for r in range(size))):
        payload = None if k >= len(mine) else _attempt(compute, mine[k], rank)
        received: list[Any] = [None] * size
        dist.gather_object(payload, received if rank == 0 else None, dst=0)
        failed: list[_Failed] = []
        if rank == 0:
            failed = [item for item in received if isinstance(item, _Failed)]
            for sender, item in enumerate(received):
                if isinstance(item, _Done):
                    yield item.batch, item.result, sender
        failed = from_main(failed)
        if failed:
            raise RankFailed(_failure_message(failed[0], size, then))


def _attempt(compute: Callable[[range], R], batch: range, rank: int) -> _Done | _Failed:
    """``compute(batch)`` as a message to rank 0: the result, or the failure (logged here
    with its traceback)."""
    try:
        return _Done(batch, to_cpu(compute(batch)))
    except Exception as err:
        logger.exception("rank %d failed on samples %s", rank, _span(batch))
        return _Failed(rank, batch, f"{type(err).__name__}: {err}")


def _failure_message(failed: _Failed, size: int, then: str) -> str:
    """What failed, where, and what to do ``then``."""
    return (
        f"rank {failed.rank} of {size} failed on samples {_span(failed.batch)}: "
        f"{failed.error} (its traceback is logged above); {then}"
    )


def _span(batch: range) -> str:
    """``first–last`` of a batch of sample indices."""
    return f"{batch.start}–{batch.stop - 1}"


def gather_batches(
    batches: Sequence[range],
    compute: Callable[[range], R],
    keep: Callable[[range, R], None] | None = None,
    then: str = RERUN,
) -> list[R] | None:
    """``compute`` on every batch, the batches dealt out round-robin among the ranks.

    Args:
        batches: the batches of sample indices.
        compute: one batch's result.
        keep: called on rank 0 (or in one process) with each result as it arrives (to
            store it, so that a stopped run resumes).
        then: what to do after a rank failed, for the message.

    Returns:
        On rank 0 (or in one process) the results in batch order; None on other ranks.

    Raises:
        RankFailed: a rank failed on one of its batches.
    """
    rank, size = world()
    if size == 1:
        ours = ((b, compute(b), 0) for b in batches)  # kept one by one, as computed
        done: Iterable[tuple[range, R, int]] = ours if keep is None else _kept(ours, keep)
    else:
        owners = [i % size for i in range(len(batches))]
        done = run_rounds(batches, owners, compute, then)
        done = done if keep is None else _kept(done, keep)
    results = {b.start: r for b, r, _ in done}
    return [results[b.start] for b in batches] if rank == 0 else None


def _kept(
    done: Iterable[tuple[range, R, int]], keep: Callable[[range, R], None]
) -> Iterator[tuple[range, R, int]]:
    """``done``, each result handed to ``keep`` as it arrives."""
    for batch, result, sender in done:
        keep(batch, result)
        yield batch, result, sender
