"""What score-based attacks share: log-probabilities from a :class:`ScoreOnly` oracle and
the margin they drive below zero.

A score oracle returns probabilities (or logits when the deployment exposes them). Both
give the same log-probabilities up to float precision, and the log-probability margin
``log F_y − max_{j≠y} log F_j`` equals the logit margin, so score attacks optimize the same
quantity a white-box margin attack would, without ever touching a gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advkit.access import ScoreOnly
from advkit.attacks._engine import BestSoFar, Problem
from advkit.objectives import is_successful, margin

__all__ = ["log_probs", "score_margin", "score_start"]

_TINY = 1e-30


def log_probs(problem: Problem, x: Tensor, rows: Tensor) -> Tensor:
    """Log-probabilities (M, K) of the M rows of ``x``; ``rows`` names each row's sample.

    Every row counts as one query against its sample.
    """
    oracle = problem.oracle
    if not isinstance(oracle, ScoreOnly):
        raise TypeError("this attack step needs score access (ScoreOnly or WhiteBox)")
    out = oracle.scores(x, rows)
    if oracle.expose_logits:
        return torch.log_softmax(out, dim=1)
    return out.clamp_min(_TINY).log()


def score_margin(logp: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """The margin to drive below zero, shape (M,).

    Untargeted: ``log F_y − max_{j≠y} log F_j``; targeted: ``max_{j≠t} log F_j − log F_t``.
    """
    return margin(logp, y) if target is None else -margin(logp, target)


def score_start(problem: Problem) -> tuple[BestSoFar, Tensor]:
    """Evaluate the clean points (one query each): best-so-far (loss = −margin) and the
    clean margins (N,)."""
    logp = log_probs(problem, problem.x0, problem.rows)
    m = score_margin(logp, problem.y, problem.target)
    success = is_successful(logp, problem.y, problem.target)
    return BestSoFar(problem.x0, success, -m), m
