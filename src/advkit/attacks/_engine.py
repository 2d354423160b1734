"""The machinery every attack shares: the problem, per-sample best-so-far, restarts, RNG.

Everything is per sample. A sample stops being attacked once it is broken (when the goal
is a success criterion, not a loss value), restarts run only on samples still unbroken,
and each sample's random draws come from a generator seeded by (seed, sample key, stream),
so a sample's result does not depend on the batch or shard it lands in.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from advkit.engine import Problem
from advkit.objectives import Objective, is_successful


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
