"""Data-parallel training on torch.distributed: the single-process run, split over K processes.

Problem solved: :func:`advkit.train` on one process is too slow for the models robustness
is studied on; K processes launched by ``torchrun`` should share each step's work and
still train *the same run*. :func:`advkit.train` switches to the mechanics below when a
``torch.distributed`` process group of more than one process is initialized (the CLI joins
``torchrun``'s with :func:`advkit.distributed.process_group`: gloo on CPU, NCCL for CUDA
tensors):

- **Same batches.** Every process draws the epoch's order from (seed, epoch); the
  global batch of ``batch_size`` samples is the single-process one, and process r takes
  its positions r, r + K, ... (:class:`KeyedDistributedSampler`, a
  :class:`~torch.utils.data.distributed.DistributedSampler` that never pads or drops
  samples). ``batch_size`` must be a multiple of K (B / K samples per process and step).
- **Same examples.** Attacks key their randomness by (seed, sample index), so a sample
  gets the same random start on whichever process it lands.
- **Same gradient.** The model is wrapped in
  :class:`~torch.nn.parallel.DistributedDataParallel`, which averages gradients over the
  K processes; each process's loss is its per-sample sum × K / (global batch size), so
  the average is the gradient of the global batch's mean loss, also for a short last
  batch (a process with no sample of it contributes zero through one empty forward).
- **Attacks on the module.** Training-mode forwards go through DDP; attacks run in eval
  mode (:func:`advkit.defenses.training.attacking`), and :class:`DataParallelModel`
  routes every eval-mode call to the underlying module, so crafting examples fires no
  DDP hook and no buffer broadcast.
- **One writer.** Checkpoints are written by process 0 only; the others wait on a
  barrier, so every process resumes from the same file (each one loads it). The run
  resumes on any number of processes that divides the batch size, one included.
- **A process stops, all stop.** A crashed or killed process makes the others fail in
  their next collective; each error gets a note naming the process, the epoch and the
  checkpoint to resume from, which keeps the last finished epoch (it is replaced
  atomically, and only after a whole epoch).

What may differ from the single-process run: the order of floating-point sums (the
gradient all-reduce), so losses agree to float tolerance, not bit for bit. BatchNorm
would normalize over B / K samples per process and is refused (convert it with
:meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm`, CUDA only, or use GroupNorm), and
so is certified training, whose bounds trace the model outside DDP.

Example:
    >>> import torch
    >>> from advkit.defenses.distributed import KeyedDistributedSampler
    >>> s = KeyedDistributedSampler(10, seed=0, num_replicas=2, rank=1)
    >>> s.set_epoch(0)
    >>> len(list(s))
    5
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from advkit.engine.rng import generator, stream

__all__ = [
    "DataParallelModel",
    "KeyedDistributedSampler",
    "Processes",
    "epoch_order",
    "idle_loss",
]

logger = logging.getLogger(__name__)


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The order of epoch ``epoch``'s samples: a permutation of ``n`` keyed by (seed, epoch)."""
    g = generator(seed, stream("epoch-order", epoch))
    return torch.randperm(n, generator=g, device=g.device)


class KeyedDistributedSampler(DistributedSampler[int]):
    """This process's share of every epoch: positions rank, rank + K, ... of the order.

    Unlike the stock sampler it neither pads nor drops samples (the processes' shares
    differ by at most one), and the order is :func:`epoch_order`, the single-process one.
    Read in chunks of B / K, the K processes' k-th chunks together are the single-process
    run's k-th batch of B samples.

    Args:
        n: dataset size.
        seed: the training run's seed.
        num_replicas: number of processes K (default: the process group's).
        rank: this process's rank (default: the process group's).
    """

    def __init__(
        self, n: int, seed: int, num_replicas: int | None = None, rank: int | None = None
    ) -> None:
        super().__init__(
            cast("Dataset[int]", range(n)),
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=seed,
        )
        self.num_samples = len(range(self.rank, n, self.num_replicas))
        self.total_size = n

    def __iter__(self) -> Iterator[int]:
        order = epoch_order(self.total_size, self.seed, self.epoch)
        return iter(order[self.rank :: self.num_replicas].tolist())


@dataclass(frozen=True)
class Processes:
    """The process group a training run is split over.

    Attributes:
        rank: this process's rank (0 writes the checkpoints).
        size: number of processes K.
    """

    rank: int
    size: int

    @classmethod
    def current(cls) -> Processes | None:
        """The initialized default process group, or None for a single-process run."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return None
        return cls(rank=dist.get_rank(), size=dist.get_world_size())

    def check(self, model: nn.Module, batch_size: int, method: object) -> None:
        """Refuse a run that the K processes could not split exactly.

        Raises:
            ValueError: ``batch_size`` is not a multiple of K, ``model`` has BatchNorm,
                or ``method`` is certified training.
        """
        if getattr(method, "certifies", False):
            raise ValueError(
                "certified training is not split over processes: its bounds trace the model "
                "outside DistributedDataParallel; train it on one process (without torchrun)"
            )
        if batch_size % self.size:
            raise ValueError(
                f"batch_size {batch_size} cannot be split over {self.size} processes: pass "
                f"a multiple of {self.size} (each process takes batch_size / {self.size} "
                "samples per step), or launch a number of processes that divides it"
            )
        norms = [
            name
            for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and not isinstance(m, nn.SyncBatchNorm)
        ]
        if norms:
            raise ValueError(
                f"the model has BatchNorm layers ({', '.join(norms)}), which would normalize "
                f"each process's {batch_size // self.size} samples apart under "
                "DistributedDataParallel, training another model than the single-process "
                "run: convert them with torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) "
                "(CUDA only), use GroupNorm/LayerNorm, or train on one process"
            )

    def batches(self, n: int, batch_size: int, seed: int, epoch: int) -> list[Tensor]:
        """This process's sample indices for each step of the epoch (some may be empty).

        Step k's shares of the K processes together are the single-process run's k-th
        batch, ``epoch_order(n, seed, epoch)[k * batch_size : (k + 1) * batch_size]``.
        """
        sampler = KeyedDistributedSampler(n, seed, num_replicas=self.size, rank=self.rank)
        sampler.set_epoch(epoch)
        mine = torch.tensor(list(sampler), dtype=torch.long)
        per = batch_size // self.size
        return [mine[k * per : (k + 1) * per] for k in range(-(-n // batch_size))]

    def total(self, value: float, like: Tensor) -> float:
        """The sum of ``value`` over the processes (a tensor on ``like``'s device)."""
        t = torch.tensor([value], dtype=torch.float64, device=like.device)
        dist.all_reduce(t)
        return float(t.item())

    def explain_stop(self, err: BaseException, epoch: int, checkpoint: Path | None) -> None:
        """Add to ``err`` which process stopped when, and what the checkpoint keeps.

        A process whose peer crashed or was killed fails in its next collective (gloo:
        "Connection closed by peer"); the note points to the peer's error and the resume.
        """
        kept = (
            f"the checkpoint {checkpoint} keeps the last finished epoch: fix the cause and "
            "rerun the same command with --resume (API: resume=True), under torchrun or not"
            if checkpoint is not None
            else "no checkpoint was asked for (pass one to make the run resumable)"
        )
        err.add_note(
            f"advkit: training process {self.rank} of {self.size} stopped in epoch "
            f"{epoch + 1} (if another process stopped first, its error is the cause); {kept}"
        )

    def on_rank_zero(self, write: Callable[[], None]) -> None:
        """Run ``write`` on process 0 only; every process waits until it is done."""
        if self.rank == 0:
            write()
        dist.barrier()


class DataParallelModel(nn.Module):
    """A model whose training-mode calls go through DDP and eval-mode calls do not.

    Attacks inside training run in eval mode, so they craft their examples on the
    underlying module: no gradient hook or buffer broadcast of DDP fires for them, and
    the processes need not run the same number of attack steps.

    Args:
        module: the model being trained (all its parameters take part in the loss).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        device = next(module.parameters()).device
        self.ddp = DistributedDataParallel(
            module, device_ids=[device] if device.type == "cuda" else None
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x`` through DDP in training mode, through the bare module otherwise."""
        module: nn.Module = self.ddp.module
        return self.ddp(x) if self.training else module(x)


def idle_loss(model: nn.Module, like: Tensor) -> Tensor:
    """A zero loss over every parameter: the share of a process with no sample in a step.

    DDP needs every process to run the backward pass of each step; an empty forward gives
    zero gradients that take part in the all-reduce.
    """
    return model(like[:0]).sum().reshape(1) * 0.0
