"""The machinery every attack shares: the problem, per-sample best-so-far, restarts, RNG.

Everything is per sample. A sample stops being attacked once it is broken (when the goal
is a success criterion, not a loss value), restarts run only on samples still unbroken,
and each sample's random draws come from a generator seeded by (seed, sample key, stream),
so a sample's result does not depend on the batch or shard it lands in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from advkit.access import Oracle, WhiteBox
from advkit.objectives import Objective, is_successful
from advkit.threat import ThreatModel

_MASK = (1 << 63) - 1


def _mix(*parts: int) -> int:
    """A 63-bit hash of integers (splitmix64 steps), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (p & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & _MASK


@dataclass(frozen=True, eq=False)
class Problem:
    """One attack call's inputs, restricted to some rows of the caller's batch.

    Attributes:
        oracle: the access to the model, with counters over the caller's whole batch.
        x0: clean inputs of these rows.
        y: true labels.
        target: target labels, or None when the goal is misclassification.
        threat: the threat model (per-sample ε already restricted to these rows).
        rows: positions of these samples in the caller's batch (for the counters).
        keys: global sample keys (dataset indices) for the random streams.
        seed: the run's seed.
    """

    oracle: Oracle
    x0: Tensor
    y: Tensor
    target: Tensor | None
    threat: ThreatModel
    rows: Tensor
    keys: Tensor
    seed: int

    def __len__(self) -> int:
        return self.x0.shape[0]

    @property
    def white_box(self) -> WhiteBox:
        if not isinstance(self.oracle, WhiteBox):
            raise TypeError("this attack step needs white-box access")
        return self.oracle

    def subset(self, local: Tensor) -> Problem:
        """The problem restricted to positions ``local`` of this problem."""
        return replace(
            self,
            x0=self.x0[local],
            y=self.y[local],
            target=None if self.target is None else self.target[local],
            threat=self.threat.select(local),
            rows=self.rows[local],
            keys=self.keys[local],
        )

    def with_target(self, target: Tensor | None) -> Problem:
        return replace(self, target=target)

    def generators(self, stream: int) -> list[torch.Generator]:
        """One generator per sample, seeded by (seed, sample key, stream)."""
        return [
            torch.Generator().manual_seed(_mix(self.seed, int(k), stream))
            for k in self.keys.tolist()
        ]

    def value_and_grad(
        self, x: Tensor, objective: Objective, target: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits, loss and input gradient at x (one row per sample of this problem)."""
        return self.white_box.value_and_grad(x, self.y, target, objective, self.rows)


class BestSoFar:
    """Per-sample best point: successful beats unsuccessful, then higher objective wins.

    Updating with any iterate can only keep or improve each sample's record, which is what
    makes running longer or restarting never make a result worse.
    """

    def __init__(self, x: Tensor, success: Tensor, loss: Tensor) -> None:
        self.x = x.detach().clone()
        self.success = success.clone()
        self.loss = loss.detach().clone()

    def update(self, local: Tensor, x: Tensor, loss: Tensor, success: Tensor) -> None:
        old_s, old_l = self.success[local], self.loss[local]
        better = (success & ~old_s) | ((success == old_s) & (loss > old_l))
        pos = better.nonzero().squeeze(1)
        if pos.numel():
            idx = local[pos]
            self.x.index_copy_(0, idx, x.detach().index_select(0, pos))
            self.loss[idx] = loss[pos].detach()
            self.success[idx] = success[pos]


def evaluate_start(problem: Problem, objective: Objective) -> BestSoFar:
    """Evaluate the clean points: already-successful samples need no attack."""
    logits = problem.white_box.logits(problem.x0, problem.rows)
    loss = objective(logits, problem.y, problem.target)
    success = is_successful(logits, problem.y, problem.target)
    return BestSoFar(problem.x0, success, loss)


RunOnce = Callable[[Problem, BestSoFar, Tensor, int], None]
"""One attack pass: (problem, best, local positions to attack, restart number) -> None."""


def with_restarts(problem: Problem, best: BestSoFar, restarts: int, run_once: RunOnce) -> None:
    """Run ``run_once`` ``restarts`` times, each time only on samples not yet broken."""
    for r in range(restarts):
        local = (~best.success).nonzero().squeeze(1)
        if local.numel() == 0:
            return
        run_once(problem, best, local, r)
