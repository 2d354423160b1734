"""What decision-based (label-only) attacks share: a per-sample query cap, the success
test on top-1 labels, a random adversarial start and the bisection towards x0.

Every label query goes through the :class:`~advkit.access.LabelOnly` oracle, so it counts
against the sample it belongs to; :class:`Labeler` adds the attack's own cap (the smaller
of the oracle's remaining budget and the attack's ``queries``) and never asks more.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor

from advkit.access import LabelOnly
from advkit.engine import Best, Evaluation, MinimalAttack, Problem, Round

__all__ = ["LabelAttack", "LabelContext", "Labeler", "bisect_to_boundary", "flat_norm"]

S = TypeVar("S")


def flat_norm(d: Tensor, p: float) -> Tensor:
    """The ℓp norm of each row of ``d`` (N, ...), shape (N,)."""
    return torch.linalg.vector_norm(d.reshape(d.shape[0], -1), ord=p, dim=1)


class Labeler:
    """Label queries for the samples of ``problem``, at most ``cap`` per sample (the
    oracle's budget also applies)."""

    def __init__(self, problem: Problem, cap: int) -> None:
        oracle = problem.oracle
        if not isinstance(oracle, LabelOnly):
            raise TypeError("this attack needs label access (LabelOnly or richer)")
        self.oracle = oracle
        self.problem = problem
        self.left = torch.clamp(oracle.remaining(problem.rows), max=cap)

    def adversarial(self, x: Tensor, pos: Tensor) -> Tensor:
        """(M,) bool: whether each row of ``x`` is adversarial for sample ``pos[m]``.

        Every row costs its sample one query; a sample never exceeds its cap.
        """
        if pos.numel() == 0:
            return torch.zeros(0, dtype=torch.bool, device=x.device)
        counts = torch.bincount(pos, minlength=len(self.left))
        if (counts > self.left).any():
            raise RuntimeError("internal error: a label query beyond the sample's cap")
        self.left = self.left - counts
        p = self.problem
        pred = self.oracle.labels(x, p.rows[pos])
        if p.target is None:
            return pred != p.y[pos]
        return pred == p.target[pos]


@dataclass(frozen=True, eq=False)
class LabelContext:
    """A label-only run: its labeler and one random stream per row (start, then steps)."""

    lab: Labeler
    gens: list[torch.Generator]

    def draw(self, pos: Tensor, sample: Callable[[torch.Generator], Tensor]) -> Tensor:
        """``sample(generator)`` for the streams of rows ``pos``, stacked (drawn on the
        CPU, then moved to the inputs' device)."""
        drawn = torch.stack([sample(self.gens[i]) for i in pos.tolist()])
        return drawn.to(self.lab.problem.x0.device)


class LabelAttack(MinimalAttack[S]):
    """A decision-based minimal attack: the record starts from one label query per clean
    point; :meth:`opening` finds adversarial starts; a point is a success when it is
    adversarial and within the threat's ε, its score is the attack's distance."""

    queries: int
    init_samples: int

    @abstractmethod
    def to_boundary(self, lab: Labeler, x: Tensor, pos: Tensor) -> Tensor:
        """Adversarial points ``x`` of the run's rows ``pos`` moved towards x0."""

    def prepare(self, problem: Problem) -> LabelContext:
        return LabelContext(Labeler(problem, self.queries), problem.generators("label-start"))

    def begin(self, problem: Problem, context: LabelContext) -> Best:
        clean = context.lab.adversarial(
            problem.x0, torch.arange(len(problem), device=problem.x0.device)
        )
        return Best.minimizing(problem.x0, clean)

    def opening(self, rnd: Round) -> tuple[Tensor, Tensor]:
        """``(x, found)``: up to ``init_samples`` uniform noise draws per row until one is
        adversarial, moved :meth:`to_boundary` (x0 where none was)."""
        p, ctx = rnd.problem, rnd.context
        x, found = p.x0.clone(), torch.zeros(len(p), dtype=torch.bool, device=p.x0.device)
        for _ in range(self.init_samples):
            pos = (~found & (ctx.lab.left[rnd.local] > 0)).nonzero().squeeze(1)
            if pos.numel() == 0:
                break
            draw = ctx.draw(
                rnd.local[pos], lambda g: torch.rand(p.x0.shape[1:], generator=g, device=g.device)
            )
            draw = (p.threat.lo + (p.threat.hi - p.threat.lo) * draw).to(p.x0.dtype)
            hit = ctx.lab.adversarial(draw, rnd.local[pos])
            x[pos[hit]] = draw[hit]
            found[pos[hit]] = True
        pos = found.nonzero().squeeze(1)
        x[pos] = self.to_boundary(ctx.lab, x[pos], rnd.local[pos])
        return x, found

    @staticmethod
    def evaluation(rnd: Round, x: Tensor, adv: Tensor, p: float, done: Tensor) -> Evaluation:
        """Points ``x`` for the record (adversarial where ``adv``), at ℓp distance."""
        ok = adv & rnd.problem.within_cap(x)
        return Evaluation(x, flat_norm(x - rnd.problem.x0, p), ok, done)


def _between(x0: Tensor, x_adv: Tensor, a: Tensor, linf: bool) -> Tensor:
    """The point at parameter ``a`` (M,) on the path from x0 (a = 0) to x_adv."""
    a = a.reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    if linf:  # clip x_adv into the L∞ ball of radius a around x0
        return torch.maximum(torch.minimum(x_adv, x0 + a), x0 - a)
    return (1 - a) * x0 + a * x_adv


def bisect_to_boundary(
    lab: Labeler, x_adv: Tensor, pos: Tensor, tol: Tensor | float, linf: bool = False
) -> Tensor:
    """Move adversarial points towards x0 by bisection until the bracket is below ``tol``.

    L2 (default): along the segment x0 → x_adv, ``tol`` relative to its length. L∞
    (``linf``): over the radius of the L∞ ball around x0 that x_adv is clipped into,
    ``tol`` absolute. Each step costs one query; a sample whose cap is spent stops. The
    returned point is always on the adversarial side (the upper end of the bracket).

    Args:
        lab: the labeler of the run.
        x_adv: adversarial points (M, ...) of samples ``pos``.
        pos: sample positions in ``lab.problem`` (M,).
        tol: the bracket width to reach, a float or (M,).
    """
    x0, m = lab.problem.x0[pos], pos.numel()
    f64, dev = torch.float64, x0.device
    tol_t = torch.as_tensor(tol, dtype=f64, device=dev).expand(m).clone()
    hi = flat_norm(x_adv - x0, math.inf).double() if linf else torch.ones(m, dtype=f64, device=dev)
    lo = torch.zeros(m, dtype=f64, device=dev)
    while True:
        act = ((hi - lo > tol_t) & (lab.left[pos] > 0)).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        mid = (lo[act] + hi[act]) / 2
        adv = lab.adversarial(_between(x0[act], x_adv[act], mid, linf), pos[act])
        hi[act] = torch.where(adv, mid, hi[act])
        lo[act] = torch.where(adv, lo[act], mid)
    return _between(x0, x_adv, hi, linf)
