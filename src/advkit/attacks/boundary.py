"""Boundary attack: a decision-based (label-only) minimal-L2 attack by a random walk
along the decision boundary.

Starts from an adversarial point (uniform noise, moved towards x0 by bisection) and walks
along the boundary: each step draws a random direction orthogonal to x0 − x_adv, moves on
the sphere of radius ‖x_adv − x0‖ around x0 by a fraction σ of that radius (the
*spherical* candidate), then steps a fraction μ towards x0 (the *source* step). Both
candidates are queried (two label queries per step, all attacked images in one model
call); the step is taken when the second one is adversarial. σ and μ adapt per sample:
every ``adapt_every`` steps, the success rates over the last 30 trials decide (×1.5 if
above 0.5, ÷1.5 if below 0.2; a low spherical rate shrinks both). A sample stops when μ
falls below ``convergence``, after ``steps`` steps, or when its queries are spent.

Threat model: the attack minimizes L2 and returns the closest adversarial point it
found; the threat's ε (any norm, ``math.inf`` for none) caps what counts as a success.
Label-only: it needs :class:`~advkit.access.LabelOnly` access and never sees a score.

Paper: Brendel, Rauber & Bethge, "Decision-based adversarial attacks: reliable attacks
against black-box machine learning models", ICLR 2018.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    >>> oracle = advkit.LabelOnly(model, budget=500)
    >>> res = advkit.attack(oracle, x, y, advkit.L2(math.inf), advkit.Boundary(steps=100))
    >>> bool((res.queries <= 500).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.access import Access
from advkit.attacks._labels import LabelAttack, Labeler, bisect_to_boundary, flat_norm
from advkit.engine import AttackInfo, Evaluation, Round

__all__ = ["Boundary"]

_WINDOW = 30


def _rate(hist: Tensor) -> Tensor:
    """Mean of the recorded trials per row (NaN = not recorded); NaN if too few."""
    seen = ~hist.isnan()
    rate = torch.where(seen, hist, 0.0).sum(dim=1) / seen.sum(dim=1).clamp_min(1)
    return torch.where(seen.sum(dim=1) >= 10, rate, torch.nan)


@dataclass
class Walk:
    """Each sample's adversarial point, step sizes σ and μ, and its last trials' outcomes."""

    x: Tensor
    sigma: Tensor
    mu: Tensor
    hist_s: Tensor
    hist_c: Tensor


@dataclass(frozen=True)
class Boundary(LabelAttack[Walk]):
    """Boundary attack (Brendel et al. 2018), minimal L2, label-only, batched over images.

    Args:
        steps: maximum walk steps per sample (default 5000; each costs 2 queries).
        queries: maximum label queries per sample, all phases included (default 25000).
        spherical_step: initial σ, relative to the current distance (default 0.01).
        source_step: initial μ, relative to the current distance (default 0.01).
        step_adaptation: the factor of σ and μ adaptation (default 1.5).
        adapt_every: steps between adaptations (default 10).
        convergence: stop a sample when μ falls below this (default 1e-7).
        init_samples: uniform-noise draws to find a starting point (default 100).
        init_tol: bisection tolerance of the starting point along x0 → noise
            (default 1e-3).

    Queries per sample: 1 (clean) + ≤ ``init_samples`` + bisection + 2 per step, capped
    at ``queries`` and the oracle's budget.
    """

    steps: int = 5000
    queries: int = 25000
    spherical_step: float = 0.01
    source_step: float = 0.01
    step_adaptation: float = 1.5
    adapt_every: int = 10
    convergence: float = 1e-7
    init_samples: int = 100
    init_tol: float = 1e-3

    info = AttackInfo(
        "boundary",
        "minimal L2, label-only: Boundary random walk, Brendel et al. 2018",
        Access.LABELS,
        minimal=True,
    )

    def __post_init__(self) -> None:
        if self.steps < 0 or self.queries < 1 or self.init_samples < 1:
            raise ValueError("steps must be >= 0, queries and init_samples >= 1")
        if not (0 < self.spherical_step < 1 and 0 < self.source_step < 1):
            raise ValueError("spherical_step and source_step must be in (0, 1)")
        if self.step_adaptation <= 1 or self.adapt_every < 1:
            raise ValueError("step_adaptation must be > 1 and adapt_every >= 1")
        if not (0 < self.init_tol < 1 and self.convergence > 0):
            raise ValueError("init_tol must be in (0, 1) and convergence > 0")

    def to_boundary(self, lab: Labeler, x: Tensor, pos: Tensor) -> Tensor:
        return bisect_to_boundary(lab, x, pos, self.init_tol)

    def init(self, rnd: Round) -> tuple[Walk, Evaluation]:
        x, found = self.opening(rnd)
        hist = torch.full((len(x), _WINDOW), torch.nan, dtype=torch.float64, device=x.device)
        sigma = torch.full_like(hist[:, 0], self.spherical_step)
        walk = Walk(x, sigma, torch.full_like(sigma, self.source_step), hist, hist.clone())
        return walk, self.evaluation(rnd, x, found, 2.0, ~found | self._stops(rnd, walk))

    def _stops(self, rnd: Round, walk: Walk) -> Tensor:
        """Samples that converged or cannot afford another step."""
        return (walk.mu < self.convergence) | (rnd.context.lab.left[rnd.local] < 2)

    def step(self, rnd: Round, walk: Walk, k: int) -> Evaluation:
        p, ctx = rnd.problem, rnd.context
        x0, m = p.x0, len(p)
        shape = (-1, *([1] * (x0.dim() - 1)))
        diff = x0 - walk.x
        dist = flat_norm(diff, 2).clamp_min(1e-12)
        unit = diff / dist.reshape(shape)
        eta = ctx.draw(
            rnd.local, lambda g: torch.randn(x0.shape[1:], generator=g, device=g.device)
        ).to(x0.dtype)
        eta = eta - (eta * unit).flatten(1).sum(dim=1).reshape(shape) * unit
        eta = eta / flat_norm(eta, 2).clamp_min(1e-12).reshape(shape)
        eta = eta * (walk.sigma * dist).reshape(shape).to(x0.dtype)
        # back onto the sphere of radius dist around x0, then towards x0 by μ
        v = walk.x + eta - x0
        sph = p.threat.clip_box(x0 + v * (dist / flat_norm(v, 2).clamp_min(1e-12)).reshape(shape))
        cand = p.threat.clip_box(sph + walk.mu.reshape(shape).to(x0.dtype) * (x0 - sph))
        both = ctx.lab.adversarial(torch.cat([sph, cand]), rnd.local.repeat(2))
        ok_s, ok_c = both[:m], both[m:]
        slot = (k - 1) % _WINDOW
        walk.hist_s[:, slot] = ok_s.double()
        walk.hist_c[:, slot] = torch.where(ok_s, ok_c.double(), torch.nan)
        walk.x = torch.where(ok_c.reshape(shape), cand, walk.x)
        if k % self.adapt_every == 0:
            self._adapt(walk)
        return self.evaluation(rnd, walk.x, torch.ones_like(ok_c), 2.0, self._stops(rnd, walk))

    def _adapt(self, walk: Walk) -> None:
        """Per-sample step-size adaptation from the recent success rates (in place)."""
        f = self.step_adaptation
        rs, rc = _rate(walk.hist_s), _rate(walk.hist_c)
        up_s, down_s = rs > 0.5, rs < 0.2
        spherical = torch.where(up_s, f, torch.where(down_s, 1 / f, 1.0))
        walk.sigma.mul_(spherical)
        walk.mu.mul_(spherical)
        walk.mu.mul_(torch.where(rc > 0.5, f, torch.where(rc < 0.2, 1 / f, 1.0)))
        walk.sigma.clamp_(max=0.5)
        walk.mu.clamp_(max=0.5)
        for h, moved in ((walk.hist_s, up_s | down_s), (walk.hist_c, (rc > 0.5) | (rc < 0.2))):
            h[moved] = torch.nan  # judge the new step size on fresh trials
