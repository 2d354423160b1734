"""What minimal-distortion attacks share: the least-distortion record and the search on c.

A minimal-distortion attack (C&W, EAD, L-BFGS, ...) looks for the *smallest* perturbation
that succeeds. The threat model's ε is a cap (``math.inf`` for none): an iterate counts as a
success only if it is misclassified (or hits the target), reaches the confidence κ where the
attack has one, and lies within ε in the threat's norm. Among successes each sample keeps
the one with the least distortion score (the attack's own rule: L2², elastic net, L1, ...).

The trade-off constant c between distortion and misclassification loss is searched per
sample (Carlini & Wagner 2017): ×10 while no round succeeded, bisection once one did.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from advkit.engine import Problem
from advkit.objectives import is_successful

__all__ = ["Smallest", "check_search", "search_c", "start_smallest", "within_cap"]

_BIG = 1e10


TANH_SHRINK = 0.999999
"""x0 is scaled by this before atanh in the change of variables, so pixels at exactly the
box edge stay finite (Carlini & Wagner's reference code does the same)."""


def check_search(search_steps: int, steps: int, initial_const: float) -> None:
    """Validate the common options of attacks that search on c."""
    if search_steps < 1:
        raise ValueError(f"search_steps must be >= 1, got {search_steps}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not initial_const > 0:
        raise ValueError(f"initial_const must be > 0, got {initial_const}")


def within_cap(problem: Problem, x: Tensor) -> Tensor:
    """(N,) bool: x lies within the threat's ε of x0 in its norm (always true for ε=inf)."""
    eps = problem.threat.radius(problem.x0).reshape(-1)
    dist = problem.threat.norm(x - problem.x0)
    return dist <= eps * (1 + 1e-6) + 1e-7


class Smallest:
    """Per-sample least-distortion success: a successful point with a lower score wins.

    Unsuccessful samples keep x0. Updating can only lower a sample's score, so running
    longer or searching more never makes a result worse.
    """

    def __init__(self, x0: Tensor, success: Tensor) -> None:
        self.x = x0.detach().clone()
        self.success = success.clone()
        self.score = torch.where(success, 0.0, torch.inf).to(x0.dtype)

    def update(self, local: Tensor, x: Tensor, score: Tensor, ok: Tensor) -> Tensor:
        """Record the successful rows ``ok`` of x (at positions ``local``) that improve."""
        better = ok & (score < self.score[local])
        pos = better.nonzero().squeeze(1)
        if pos.numel():
            idx = local[pos]
            self.x.index_copy_(0, idx, x.detach().index_select(0, pos))
            self.score[idx] = score[pos].detach().to(self.score.dtype)
            self.success[idx] = True
        return better


def start_smallest(problem: Problem) -> Smallest:
    """Evaluate the clean points: samples already successful need no attack."""
    logits = problem.white_box.logits(problem.x0, problem.rows)
    return Smallest(problem.x0, is_successful(logits, problem.y, problem.target))


RunRound = Callable[[Problem, Tensor, Tensor], Tensor]
"""One optimization at fixed c: (sub-problem, positions in the parent, c (M,)) -> success (M,)."""


def search_c(
    problem: Problem,
    best: Smallest,
    *,
    initial_const: float,
    search_steps: int,
    run_round: RunRound,
) -> None:
    """Per-sample search on c: ×10 until a round succeeds, then bisection.

    Only samples that the clean point does not already break are attacked. Each round
    calls ``run_round`` with every attacked sample's current c.
    """
    local = (~best.success).nonzero().squeeze(1)
    if local.numel() == 0:
        return
    n = local.numel()
    c = torch.full((n,), float(initial_const), dtype=torch.float64)
    lower = torch.zeros(n, dtype=torch.float64)
    upper = torch.full((n,), _BIG, dtype=torch.float64)
    for _ in range(search_steps):
        ok = run_round(problem.subset(local), local, c.clone()).cpu()
        upper = torch.where(ok, torch.minimum(upper, c), upper)
        lower = torch.where(ok, lower, torch.maximum(lower, c))
        bracketed = upper < _BIG
        c = torch.where(bracketed, (lower + upper) / 2, c * 10)
