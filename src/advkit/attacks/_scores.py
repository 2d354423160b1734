"""What score- and label-access attacks share: queries that judge points, and budgets.

A score oracle returns probabilities (or logits when the deployment exposes them). Both
give the same log-probabilities up to float precision, and the log-probability margin
``log F_y − max_{j≠y} log F_j`` equals the logit margin, so score attacks optimize the same
quantity a white-box margin attack would, without ever touching a gradient. A label
oracle only says whether a point meets the goal.

Every evaluated row counts as one query against its sample. These attacks ask only
when the oracle can answer: a round's start queries nothing (:func:`unqueried`) and a row
leaves once its sample cannot pay for its next query (:func:`cannot_pay`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from advkit.access import LabelOnly
from advkit.engine import Evaluation, Problem
from advkit.objectives import is_successful, margin

__all__ = ["cannot_pay", "label_success", "score_margin", "unqueried"]

_TINY = 1e-30


def _per_row(problem: Problem, per_sample: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """Sample rows, labels and targets repeated for ``per_sample`` points per sample."""
    rep = problem.rows.repeat_interleave(per_sample)
    y = problem.y.repeat_interleave(per_sample)
    t = problem.target
    return rep, y, None if t is None else t.repeat_interleave(per_sample)


def score_margin(problem: Problem, x: Tensor, per_sample: int = 1) -> tuple[Tensor, Tensor]:
    """Query the scores of x and return the margin to drive below zero and the success.

    Untargeted margin: ``log F_y − max_{j≠y} log F_j``; targeted:
    ``max_{j≠t} log F_j − log F_t``.

    Args:
        problem: the attacked samples.
        x: ``per_sample`` points of each sample, a sample's points consecutive
            (``len(problem) · per_sample`` rows).
        per_sample: points per sample.

    Returns:
        ``(margin, success)``, both of shape (M,).
    """
    oracle = problem.score_oracle
    rows, y, target = _per_row(problem, per_sample)
    out = oracle.scores(x, rows)
    logp = torch.log_softmax(out, dim=1) if oracle.expose_logits else out.clamp_min(_TINY).log()
    m = margin(logp, y) if target is None else -margin(logp, target)
    return m, is_successful(logp, y, target)


def label_success(problem: Problem, x: Tensor, per_sample: int = 1) -> Tensor:
    """(M,) bool: the top-1 label of each row of x meets the goal (rows as in
    :func:`score_margin`)."""
    oracle = problem.oracle
    if not isinstance(oracle, LabelOnly):
        raise TypeError("this attack needs label access (LabelOnly or richer)")
    rows, y, target = _per_row(problem, per_sample)
    pred = oracle.labels(x, rows)
    return pred != y if target is None else pred == target


def cannot_pay(problem: Problem, queries: int) -> Tensor:
    """(N,) bool: samples whose budget left is below ``queries``."""
    return problem.oracle.remaining(problem.rows) < queries


def unqueried(x0: Tensor, done: Tensor, *, minimize: bool) -> Evaluation:
    """The evaluation of a round's start that asks the oracle nothing: no row improves
    the record (minimizing or maximizing), and the rows ``done`` leave."""
    worst = torch.inf if minimize else -torch.inf
    score = torch.full(done.shape, worst, dtype=torch.float64, device=done.device)
    return Evaluation(x0, score, torch.zeros_like(done), done)
