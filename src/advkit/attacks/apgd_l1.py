"""l1-APGD: the APGD round at L1 (Croce & Hein, ICML 2021, "Mind the box: l1-APGD for
sparse adversarial attacks on image classifiers").

At L1 the APGD loop of :mod:`advkit.attacks.apgd` takes a sparse step whose sparsity
adapts to the points it finds, then projects exactly onto the ℓ1 ball ∩ box:

- the step moves the k·D coordinates (rounded, at least one) with the largest |gradient|
  among those the box does not block, each by ±η/(their number): ℓ1 length η, no
  momentum. AutoAttack rounds k·D up and ranks blocked coordinates too; rounding to the
  nearest keeps a 1-sparse best point's steps 1-sparse (when two coordinates move by
  equal steps, the ℓ1 projection shrinks both alike and the smaller never reaches 0);
- the fraction k starts at 0.2 (from a random start) and, every max(⌊0.04·N⌋, 1) steps
  of an N-step run, becomes ‖δ_best‖₀ / (1.5·D), the sparsity of the best point so far;
- the step η starts at ε; at those checks, a sample whose best point became sparser
  (‖δ_best‖₀ < 0.95 × at the previous check) goes back to η = ε and restarts from its
  best point, the others divide η by 1.5; η stays within [ε/10, ε].

With ``large_reps`` the run is split into three phases at 3ε, 2ε and ε, taking
⌈0.3N⌉, ⌈0.3N⌉ and the remaining steps: the first phase starts from a Gaussian point
projected onto the 3ε ball ∩ box, each next one from the previous phase's highest-loss
point projected onto its smaller ball, with k = ‖δ‖₀ / (1.5·D) of that point and η at
the phase's radius. Only the ε phase can break a sample (points of the larger balls are
never recorded); each phase starts with one gradient evaluation, so a round costs
N + 3 gradient calls instead of N + 1.

Example:
    >>> [(p.factor, p.steps) for p in phases(100, large_reps=True)]
    [(3.0, 30), (2.0, 30), (1.0, 40)]
    >>> check_period(30), check_period(100)
    (1, 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.engine import Evaluation, Problem, Round
from advkit.objectives import Objective

__all__ = ["L1State", "Phase", "advance", "check_period", "phases", "sparse_direction", "start"]

START_FRACTION = 0.2
"""The fraction of coordinates a step moves from a random start."""
SHRINK = 1.5
"""k = ‖δ_best‖₀ / (SHRINK · D) at a check; η is divided by SHRINK when not reset."""
SPARSER = 0.95
"""A best point is sparser when ‖δ_best‖₀ falls below this fraction of the last check's."""
FLOOR = 10.0
"""η never falls below ε / FLOOR."""
CHECK_FRACTION = 0.04
"""Checks every max(⌊CHECK_FRACTION · N⌋, 1) steps of an N-step phase."""
LARGE_REPS = ((3.0, 0.3), (2.0, 0.3), (1.0, 0.4))
"""(radius factor, share of the steps) of the three ``large_reps`` phases."""
MIN_LARGE_REPS_STEPS = 5
"""The fewest steps that leave each ``large_reps`` phase at least one."""


@dataclass(frozen=True)
class Phase:
    """One stretch of an l1-APGD round: ``steps`` steps in the ball of radius factor·ε."""

    factor: float
    steps: int


def phases(steps: int, large_reps: bool) -> tuple[Phase, ...]:
    """The phases of an l1-APGD round of ``steps`` steps (one at ε without large reps)."""
    if not large_reps:
        return (Phase(1.0, steps),)
    first = [math.ceil(share * steps) for _, share in LARGE_REPS[:-1]]
    counts = [*first, steps - sum(first)]
    return tuple(Phase(f, n) for (f, _), n in zip(LARGE_REPS, counts, strict=True))


def check_period(steps: int) -> int:
    """Steps between two sparsity checks in a phase of ``steps`` steps."""
    return max(int(CHECK_FRACTION * steps), 1)


@dataclass
class L1State:
    """One l1-APGD round's per-sample state (tensors) and its place in the schedule."""

    x: Tensor
    grad: Tensor
    eta: Tensor
    x_best: Tensor
    f_best: Tensor
    g_best: Tensor
    fraction: Tensor
    nnz_prev: Tensor
    target: Tensor | None
    plan: tuple[Phase, ...]
    phase: int = 0
    taken: int = 0


def _nnz(delta: Tensor) -> Tensor:
    """(N,) number of changed coordinates of each row, as a float tensor."""
    return (delta.reshape(delta.shape[0], -1) != 0).sum(dim=1).to(delta.dtype)


def _radius(p: Problem, factor: float) -> Tensor:
    """factor·ε per sample, shaped to broadcast against x0."""
    return p.threat.radius(p.x0) * factor


def _project(p: Problem, x: Tensor, factor: float) -> Tensor:
    """x projected onto the ball of radius factor·ε around x0, intersected with the box."""
    if factor == 1.0:
        return p.project(x)
    return p.threat.with_eps(p.threat.eps * factor).project(x, p.x0)


def sparse_direction(p: Problem, g: Tensor, x: Tensor, fraction: Tensor) -> Tensor:
    """Sign of g on its top ``fraction`` of unblocked coordinates, of unit ℓ1 norm."""
    flat = p.threat.unblocked(g, x).reshape(g.shape[0], -1)
    a = flat.abs()
    d = a.shape[1]
    rank = ((1.0 - fraction) * d).round().long().clamp(0, d - 1)
    kth = a.sort(dim=1).values.gather(1, rank[:, None])
    chosen = (a >= kth) & (a > 0)
    count = chosen.sum(dim=1, keepdim=True).clamp_min(1)
    return (flat.sign() * chosen / count).reshape(g.shape)


def start(
    rnd: Round,
    objective: Objective,
    target: Tensor | None,
    stream: tuple[str, int],
    plan: tuple[Phase, ...],
) -> tuple[L1State, Evaluation]:
    """The round's random start and its evaluation (the first phase begins there)."""
    p = rnd.problem
    gens = p.generators(*stream)
    if len(plan) == 1:
        x = p.threat.sample(p.x0, gens)
    else:
        d = p.x0[0].numel()
        noise = torch.stack([torch.randn(d, generator=g, device=g.device) for g in gens])
        x = _project(p, p.x0 + noise.to(p.x0).reshape(p.x0.shape), plan[0].factor)
    zeros = torch.zeros(len(p), device=p.x0.device, dtype=p.x0.dtype)
    s = L1State(x, x, zeros, x, zeros, x, zeros, zeros, target, plan)
    return s, _enter(p, s, x, objective, from_point=len(plan) > 1)


def _enter(p: Problem, s: L1State, x: Tensor, objective: Objective, from_point: bool) -> Evaluation:
    """Start the current phase at x: evaluate it and reset the step, sparsity and best."""
    logits, loss, grad = p.value_and_grad(x, objective, s.target)
    d = x[0].numel()
    s.x, s.grad, s.x_best, s.f_best, s.g_best = x, grad, x, loss, grad
    s.eta = _radius(p, s.plan[s.phase].factor).clone()
    if from_point:
        s.nnz_prev = _nnz(x - p.x0)
        s.fraction = s.nnz_prev / (d * SHRINK)
    else:
        s.nnz_prev = torch.full_like(loss, float(d))
        s.fraction = torch.full_like(loss, START_FRACTION)
    s.taken = 0
    return _evaluation(p, s, x, loss, logits)


def _evaluation(p: Problem, s: L1State, x: Tensor, loss: Tensor, logits: Tensor) -> Evaluation:
    """The point's evaluation; in a phase beyond ε nothing is recorded or counted broken."""
    if s.phase == len(s.plan) - 1:
        return Evaluation(x, loss, p.successful(logits), logits=logits)
    never = torch.full_like(loss, -math.inf)
    return Evaluation(x, never, torch.zeros_like(loss, dtype=torch.bool))


def advance(rnd: Round, s: L1State, objective: Objective) -> Evaluation:
    """One driver step: a sparse step in the current phase, or the next phase's start."""
    p = rnd.problem
    if s.taken == s.plan[s.phase].steps:
        s.phase += 1
        entry = _project(p, s.x_best, s.plan[s.phase].factor)
        return _enter(p, s, entry, objective, from_point=True)
    factor = s.plan[s.phase].factor
    step = sparse_direction(p, s.grad, s.x, s.fraction).mul_(s.eta).add_(s.x)
    x = _project(p, step, factor)
    logits, loss, grad = p.value_and_grad(x, objective, s.target)
    s.x, s.grad = x, grad
    improved = (loss > s.f_best).nonzero().squeeze(1)
    if improved.numel():
        s.x_best = s.x_best.index_copy(0, improved, x.index_select(0, improved))
        s.f_best = s.f_best.index_copy(0, improved, loss.index_select(0, improved))
        s.g_best = s.g_best.index_copy(0, improved, grad.index_select(0, improved))
    s.taken += 1
    if s.taken % check_period(s.plan[s.phase].steps) == 0:
        _check(p, s, factor)
    return _evaluation(p, s, x, loss, logits)


def _check(p: Problem, s: L1State, factor: float) -> None:
    """Adapt sparsity and step to the best point; restart the rows that became sparser."""
    nnz = _nnz(s.x_best - p.x0)
    sparser = nnz < SPARSER * s.nnz_prev
    s.fraction = nnz / (s.x[0].numel() * SHRINK)
    s.nnz_prev = nnz
    top = _radius(p, factor)
    rows = sparser.reshape(-1, *([1] * (s.x.dim() - 1)))
    s.eta = torch.minimum(torch.maximum(torch.where(rows, top, s.eta / SHRINK), top / FLOOR), top)
    s.x = torch.where(rows, s.x_best, s.x)
    s.grad = torch.where(rows, s.g_best, s.grad)
