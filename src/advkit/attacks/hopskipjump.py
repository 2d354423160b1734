"""HopSkipJump: a decision-based (label-only) minimal-distortion attack, L2 or L∞, by
gradient-direction estimates at the decision boundary.

From an adversarial start (uniform noise, bisected towards x0), each iteration t:

1. estimates the direction of the boundary's normal at the current boundary point x_t
   from B_t = min(``init_evals``·√t, ``max_evals``) label queries at x_t + δ_t u_b
   (u_b random unit vectors, Gaussian for L2, uniform for L∞; δ_t = √d·θ·dist for L2,
   d·θ·dist for L∞, 0.1 at the first iteration), with the mean of the ±1 answers
   subtracted as a baseline; the step direction is v (L2) or sign(v) (L∞);
2. jumps along it with step size dist/√t, halved until the point is adversarial
   (geometric progression);
3. bisects back towards x0 onto the boundary, to a tolerance θ = d^{-3/2} (L2) or
   d^{-2} (L∞) (linear blend for L2, shrinking L∞ ball for L∞).

All attacked images are handled together: one model call per estimate, per halving and
per bisection step. Each sample stops after ``steps`` iterations or when its query cap
(``queries`` and the oracle's budget) leaves no room for another estimate.

Threat model: the attack minimizes the threat's norm when it is L∞ (the L∞ variant),
L2 otherwise (``norm`` overrides); the threat's ε (``math.inf`` for none) caps what
counts as a success. Needs :class:`~advkit.access.LabelOnly` access only.

Paper: Chen, Jordan & Wainwright, "HopSkipJumpAttack: a query-efficient decision-based
attack", IEEE S&P 2020.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    >>> hsj = advkit.HopSkipJump(steps=5, init_evals=20, max_evals=50)
    >>> res = advkit.attack(advkit.LabelOnly(model), x, y, advkit.L2(math.inf), hsj)
    >>> res.x_adv.shape
    torch.Size([2, 1, 4, 4])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.access import Access
from advkit.attacks._labels import LabelAttack, LabelContext, Labeler, bisect_to_boundary, flat_norm
from advkit.engine import AttackInfo, Evaluation, Problem, Round

__all__ = ["HopSkipJump"]

_HALVINGS = 25
_CHUNK_ROWS = 20000


@dataclass
class OnBoundary:
    """Each sample's point on the decision boundary (adversarial side)."""

    x: Tensor


@dataclass(frozen=True)
class HopSkipJump(LabelAttack[OnBoundary]):
    """HopSkipJump (Chen et al. 2020), minimal L2 or L∞, label-only, batched over images.

    Args:
        steps: iterations per sample (default 64).
        queries: maximum label queries per sample, all phases included (default 25000).
        norm: ``"auto"`` (L∞ for an L∞ threat, else L2), ``"l2"`` or ``"linf"``.
        init_evals: queries of the first gradient-direction estimate (default 100).
        max_evals: the most queries of one estimate (default 10000).
        gamma: sets the bisection tolerance θ = γ/d^{3/2} (L2) or γ/d² (L∞)
            (default 1).
        init_samples: uniform-noise draws to find a starting point (default 100).

    Queries per sample: 1 + ≤ ``init_samples`` + per iteration B_t + ≤ 25 halvings +
    bisection steps, capped at ``queries`` and the oracle's budget.
    """

    steps: int = 64
    queries: int = 25000
    norm: str = "auto"
    init_evals: int = 100
    max_evals: int = 10000
    gamma: float = 1.0
    init_samples: int = 100

    info = AttackInfo(
        "hopskipjump",
        "minimal L2/L∞, label-only: HopSkipJump, 64 iterations, 2020",
        Access.LABELS,
        minimal=True,
    )

    def __post_init__(self) -> None:
        if self.norm not in ("auto", "l2", "linf"):
            raise ValueError(f"norm must be 'auto', 'l2' or 'linf', got {self.norm!r}")
        if self.steps < 0 or self.queries < 1 or self.init_samples < 1:
            raise ValueError("steps must be >= 0, queries and init_samples >= 1")
        if not 1 <= self.init_evals <= self.max_evals:
            raise ValueError("need 1 <= init_evals <= max_evals")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}")

    def _p(self, problem: Problem) -> float:
        """The norm minimized: L∞ for ``norm="linf"`` or an L∞ threat under "auto", else L2."""
        linf = problem.threat.name == "linf" if self.norm == "auto" else self.norm == "linf"
        return math.inf if linf else 2.0

    def _theta(self, problem: Problem) -> float:
        """The bisection tolerance θ."""
        d = problem.x0[0].numel()
        return self.gamma / (d * d) if self._p(problem) == math.inf else self.gamma / d**1.5

    def _evals(self, t: int) -> int:
        """B_t, the queries of iteration t's direction estimate."""
        return min(int(self.init_evals * math.sqrt(t)), self.max_evals)

    def _evaluate(self, rnd: Round, x: Tensor, adv: Tensor, t: int) -> Evaluation:
        """Record x; a sample stops when it cannot afford iteration t + 1."""
        poor = rnd.context.lab.left[rnd.local] < self._evals(t + 1) + 2
        return self.evaluation(rnd, x, adv, self._p(rnd.problem), ~adv | poor)

    def to_boundary(self, lab: Labeler, x: Tensor, pos: Tensor) -> Tensor:
        theta = self._theta(lab.problem)
        if self._p(lab.problem) == math.inf:
            dist = flat_norm(x - lab.problem.x0[pos], math.inf).double()
            return bisect_to_boundary(lab, x, pos, torch.clamp(dist * theta, max=theta), True)
        return bisect_to_boundary(lab, x, pos, theta)

    def init(self, rnd: Round) -> tuple[OnBoundary, Evaluation]:
        x, found = self.opening(rnd)
        return OnBoundary(x), self._evaluate(rnd, x, found, 0)

    def step(self, rnd: Round, state: OnBoundary, t: int) -> Evaluation:
        p, ctx = rnd.problem, rnd.context
        linf, d = self._p(p) == math.inf, p.x0[0].numel()
        dist = flat_norm(state.x - p.x0, self._p(p))
        if t == 1:
            delta = torch.full_like(dist, 0.1 * (p.threat.hi - p.threat.lo))
        else:
            delta = (d if linf else math.sqrt(d)) * self._theta(p) * dist
        v = self._direction(ctx, state.x, rnd.local, delta, self._evals(t), linf)
        x = self._jump(ctx.lab, state.x, rnd.local, v, dist / math.sqrt(t))
        state.x = self.to_boundary(ctx.lab, x, rnd.local)
        return self._evaluate(
            rnd, state.x, torch.ones(len(p), dtype=torch.bool, device=p.x0.device), t
        )

    def _direction(
        self, ctx: LabelContext, x: Tensor, pos: Tensor, delta: Tensor, evals: int, linf: bool
    ) -> Tensor:
        """The estimated step direction at boundary points x (M, ...), Monte Carlo with
        ``evals`` label queries per sample and a mean baseline."""
        threat = ctx.lab.problem.threat
        m = x.shape[0]
        shape = x.shape[1:]
        ones = [1] * len(shape)
        per = max(_CHUNK_ROWS // evals, 1)
        out = torch.empty_like(x)
        rand = torch.rand if linf else torch.randn
        for s in range(0, m, per):
            idx = torch.arange(s, min(s + per, m), device=x.device)
            draw = ctx.draw(pos[idx], lambda g: rand((evals, *shape), generator=g, device=g.device))
            draw = (draw * 2 - 1 if linf else draw).to(x.dtype)  # uniform in [-1, 1]^d for L∞
            u = draw / flat_norm(draw.flatten(0, 1), 2).reshape(len(idx), evals, *ones)
            dl = delta[idx].to(x.dtype).reshape(-1, 1, *ones)
            pert = threat.clip_box(x[idx, None] + dl * u)
            u = (pert - x[idx, None]) / dl
            adv = ctx.lab.adversarial(pert.flatten(0, 1), pos[idx].repeat_interleave(evals))
            phi = adv.reshape(len(idx), evals).to(x.dtype) * 2 - 1
            mean = phi.mean(dim=1, keepdim=True)
            uniform = (mean.abs() == 1).to(x.dtype)  # all answers equal: no baseline
            w = phi - (1 - uniform) * mean
            out[idx] = (w.reshape(len(idx), evals, *ones) * u).mean(dim=1)
        if linf:
            return out.sign()
        return out / flat_norm(out, 2).clamp_min(1e-12).reshape(-1, *ones)

    def _jump(self, lab: Labeler, x: Tensor, pos: Tensor, v: Tensor, step: Tensor) -> Tensor:
        """x + ξ v with ξ halved from ``step`` until the point is adversarial (per sample);
        a sample that finds none (or runs out of queries) stays at x."""
        threat = lab.problem.threat
        shape = (-1, *[1] * (x.dim() - 1))
        xi = step.clone().double()
        out = x.clone()
        todo = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(_HALVINGS):
            act = (todo & (lab.left[pos] > 0)).nonzero().squeeze(1)
            if act.numel() == 0:
                break
            cand = threat.clip_box(x[act] + xi[act].reshape(shape).to(x.dtype) * v[act])
            ok = lab.adversarial(cand, pos[act])
            out[act[ok]] = cand[ok]
            todo[act[ok]] = False
            xi[act[~ok]] /= 2
        return out
