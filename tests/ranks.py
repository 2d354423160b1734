"""Run a job on two gloo ranks of torch.distributed in forked processes, as torchrun would.

Forked, the ranks start at once: importing torch and advkit anew takes seconds. Rank 0
saves what the job returned (or the :class:`~advkit.distributed.RankFailed` every rank
raised), and so does rank 1, for the test to compare.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from advkit.distributed import RankFailed, process_group, world


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rank_main(rank: int, size: int, port: int, job: Callable[[Path], Any], out: Path) -> None:
    """One rank: join a gloo group as torchrun's environment says, run ``job``, save its
    result (or the error every rank raised) in ``out``."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(size),
    )
    torch.set_num_threads(1)
    with process_group():
        try:
            result: Any = job(out)
        except RankFailed as err:
            result = err
        assert world() == (rank, size)
        torch.save(result, out / f"rank{rank}.pt")


def on_two_ranks(job: Callable[[Path], Any], out: Path) -> tuple[Any, Any]:
    """What ``job`` returned (or raised) on rank 0 and on rank 1 of a gloo run."""
    mp.start_processes(rank_main, args=(2, free_port(), job, out), nprocs=2, start_method="fork")
    return tuple(torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1))  # type: ignore[return-value]
