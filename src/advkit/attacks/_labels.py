"""What decision-based (label-only) attacks share: a per-sample query cap, the success
test on top-1 labels, a random adversarial start and the bisection towards x0.

Every label query goes through the :class:`~advkit.access.LabelOnly` oracle, so it counts
against the sample it belongs to; :class:`Labeler` adds the attack's own cap (the smaller
of the oracle's remaining budget and the attack's ``queries``) and never asks more.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from advkit.access import LabelOnly
from advkit.attacks._engine import Problem
from advkit.attacks._minimal import Smallest

__all__ = ["LabelStart", "Labeler", "bisect_to_boundary", "flat_norm", "label_start"]


def flat_norm(d: Tensor, p: float) -> Tensor:
    """The ℓp norm of each row of ``d`` (N, ...), shape (N,)."""
    return torch.linalg.vector_norm(d.reshape(d.shape[0], -1), ord=p, dim=1)


class Labeler:
    """Label queries for the samples of ``problem`` under a per-sample cap.

    Args:
        problem: the attacked samples.
        cap: the attack's own per-sample limit (the oracle's budget also applies).
    """

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
            return torch.zeros(0, dtype=torch.bool)
        counts = torch.bincount(pos, minlength=len(self.left))
        if (counts > self.left).any():
            raise RuntimeError("internal error: a label query beyond the sample's cap")
        self.left = self.left - counts
        p = self.problem
        pred = self.oracle.labels(x, p.rows[pos])
        if p.target is None:
            return pred != p.y[pos]
        return pred == p.target[pos]


class LabelStart(NamedTuple):
    """Where a decision-based attack starts (see :func:`label_start`)."""

    lab: Labeler
    best: Smallest
    gens: list[torch.Generator]
    x: Tensor
    pos: Tensor


def label_start(problem: Problem, cap: int, tries: int) -> LabelStart:
    """The common opening of Boundary and HopSkipJump.

    Labels the clean points (those already adversarial are kept as found, at distance 0),
    then draws up to ``tries`` uniform noise images per remaining sample until one is
    adversarial.

    Returns:
        the :class:`Labeler` (cap ``cap``), the per-sample best so far, the samples'
        generators, the adversarial starts ``x`` (M, ...) and the indices ``pos`` (M,) of
        the samples they belong to (not adversarial when clean, noise found one).
    """
    lab = Labeler(problem, cap)
    clean = lab.adversarial(problem.x0, torch.arange(len(problem)))
    best = Smallest(problem.x0, clean)
    gens = problem.generators("label-start")
    x, found = _noise_start(lab, gens, tries, clean)
    pos = (found & ~clean).nonzero().squeeze(1)
    return LabelStart(lab, best, gens, x[pos], pos)


def _noise_start(
    lab: Labeler, gens: list[torch.Generator], tries: int, done: Tensor
) -> tuple[Tensor, Tensor]:
    """Uniform noise in the box until it is adversarial (``tries`` draws per sample).

    Returns:
        ``(x, found)``: the first adversarial draw of each sample (x0 where none, or where
        ``done`` says the clean point already is adversarial) and whether one was found.
    """
    p = lab.problem
    x = p.x0.clone()
    found = done.clone()
    for _ in range(tries):
        pos = (~found & (lab.left > 0)).nonzero().squeeze(1)
        if pos.numel() == 0:
            break
        draw = torch.stack([torch.rand(p.x0.shape[1:], generator=gens[i]) for i in pos.tolist()])
        draw = (p.threat.lo + (p.threat.hi - p.threat.lo) * draw).to(p.x0.dtype)
        hit = lab.adversarial(draw, pos)
        x[pos[hit]] = draw[hit]
        found[pos[hit]] = True
    return x, found


def _between(x0: Tensor, x_adv: Tensor, a: Tensor, linf: bool) -> Tensor:
    """The point at parameter ``a`` (M,) on the path from x0 (a = 0) to x_adv."""
    shape = (-1, *([1] * (x0.dim() - 1)))
    a = a.reshape(shape).to(x0.dtype)
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
        lab: the labeler.
        x_adv: adversarial points (M, ...) of samples ``pos``.
        pos: sample positions in ``lab.problem`` (M,).
        tol: the bracket width to reach, a float or (M,).
    """
    x0 = lab.problem.x0[pos]
    m = pos.numel()
    tol_t = torch.as_tensor(tol, dtype=torch.float64).expand(m).clone()
    hi = flat_norm(x_adv - x0, math.inf).double() if linf else torch.ones(m, dtype=torch.float64)
    lo = torch.zeros(m, dtype=torch.float64)
    while True:
        act = ((hi - lo > tol_t) & (lab.left[pos] > 0)).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        mid = (lo[act] + hi[act]) / 2
        adv = lab.adversarial(_between(x0[act], x_adv[act], mid, linf), pos[act])
        hi[act] = torch.where(adv, mid, hi[act])
        lo[act] = torch.where(adv, lo[act], mid)
    return _between(x0, x_adv, hi, linf)
