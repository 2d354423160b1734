"""``--workers K``: run a command as K processes on torch.distributed, as torchrun does.

``advkit evaluate --workers 2 ...`` is ``torchrun --standalone --nproc-per-node 2 -m
advkit -- evaluate ...``, launched through ``torch.distributed.run``: every process runs the
same command as one rank, the ranks share the batches (:mod:`advkit.distributed`) and
rank 0 writes the files. Under a launcher already (torchrun sets ``WORLD_SIZE``), the
launcher's processes are the workers and ``--workers`` is not used.

Example:
    advkit evaluate --model lenet5-pgd --eps 0.3 --n 256 --workers 2
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import AbstractContextManager

from torch.distributed.elastic.multiprocessing import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args
from torch.distributed.run import run as launch_ranks

from advkit.cli.device import device_of
from advkit.cli.errors import UsageError
from advkit.distributed import process_group, under_launcher, world

__all__ = ["add_workers", "launch", "launches", "rank_session", "refuse_ranks"]


def add_workers(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers`` to a subcommand whose batches the ranks can share."""
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the batches (torch.distributed: gloo on the CPU, NCCL on "
        "CUDA), one thread each; the results are those of one process (default 1; same "
        "as torchrun --nproc-per-node K -m advkit -- ...)",
    )


def launches(args: argparse.Namespace) -> bool:
    """Whether this command asks for workers and no launcher started it yet."""
    workers = getattr(args, "workers", 1)
    if workers < 1:
        raise UsageError(f"--workers {workers}: give 1 or more processes, e.g. --workers 2")
    return workers > 1 and not under_launcher()


def launch(argv: list[str], workers: int) -> int:
    """Run ``advkit argv`` as ``workers`` ranks on this machine; the exit status.

    The ranks print their own messages; a rank that fails makes the launcher stop the
    others, and its exit status is returned (128 + the signal's number when a signal,
    such as Ctrl-C, stopped the launcher).
    """
    logging.getLogger("torch.distributed").setLevel(logging.WARNING)
    config = parse_args(["--standalone", f"--nproc-per-node={workers}", "-m", "advkit"])
    config.training_script_args = argv  # not parsed: torchrun would take --n for its own
    try:
        launch_ranks(config)
    except ChildFailedError as err:
        rank, failure = err.get_first_failure()
        print(
            f"advkit: error: worker {rank} of {workers} ended with exit status "
            f"{failure.exitcode} (its message is above); the other workers were stopped",
            file=sys.stderr,
        )
        return failure.exitcode if failure.exitcode > 0 else 1
    except SignalException as err:  # Ctrl-C or a kill: the launcher stopped the workers
        print(
            f"advkit: stopped by {err.sigval.name}; what was stored so far is kept: rerun "
            "the same command to resume",
            file=sys.stderr,
        )
        return 128 + int(err.sigval)
    return 0


def refuse_ranks(option: str) -> None:
    """Refuse to run ``option``, which one process runs alone, as one of several ranks."""
    if world()[1] > 1:
        raise UsageError(
            f"{option} runs in one process: drop --workers (or run it without torchrun)"
        )


def rank_session(args: argparse.Namespace) -> AbstractContextManager[None]:
    """The process group of this rank for the command's duration (nothing in one
    process): gloo, or NCCL when the command's device (``--device``, default cuda when
    available) is CUDA."""
    return process_group(str(device_of(args)) if hasattr(args, "device") else None)
