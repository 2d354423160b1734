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
from advkit.attacks._engine import Problem
from advkit.attacks._labels import Labeler, bisect_to_boundary, flat_norm, label_start
from advkit.attacks._minimal import Smallest, within_cap
from advkit.engine import Attack, AttackInfo

__all__ = ["Boundary"]

_WINDOW = 30


def _rate(hist: Tensor) -> Tensor:
    """Mean of the recorded trials per row (NaN = not recorded); NaN if too few."""
    seen = ~hist.isnan()
    rate = torch.where(seen, hist, 0.0).sum(dim=1) / seen.sum(dim=1).clamp_min(1)
    return torch.where(seen.sum(dim=1) >= 10, rate, torch.nan)


@dataclass(frozen=True)
class Boundary(Attack):
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

    def run(self, problem: Problem) -> Tensor:
        lab, best, gens, x, start = label_start(problem, self.queries, self.init_samples)
        if start.numel() == 0:
            return best.x
        x = bisect_to_boundary(lab, x, start, self.init_tol)
        self._walk(problem, lab, best, start, x, [gens[i] for i in start.tolist()])
        return best.x

    def _walk(
        self,
        problem: Problem,
        lab: Labeler,
        best: Smallest,
        pos: Tensor,
        x: Tensor,
        gens: list[torch.Generator],
    ) -> None:
        """Walk samples ``pos`` from their adversarial points ``x`` (M, ...)."""
        x0 = problem.x0[pos]
        threat = problem.threat
        m = pos.numel()
        sub = problem.subset(pos)
        best.update(pos, x, flat_norm(x - x0, 2), within_cap(sub, x))
        sigma = torch.full((m,), self.spherical_step, dtype=torch.float64)
        mu = torch.full((m,), self.source_step, dtype=torch.float64)
        hist_s = torch.full((m, _WINDOW), torch.nan, dtype=torch.float64)
        hist_c = torch.full((m, _WINDOW), torch.nan, dtype=torch.float64)
        shape = (-1, *([1] * (x0.dim() - 1)))
        for step in range(self.steps):
            act = ((mu >= self.convergence) & (lab.left[pos] >= 2)).nonzero().squeeze(1)
            if act.numel() == 0:
                break
            xa, xo = x[act], x0[act]
            diff = xo - xa
            dist = flat_norm(diff, 2).clamp_min(1e-12)
            unit = diff / dist.reshape(shape)
            eta = torch.stack([torch.randn(x0.shape[1:], generator=gens[i]) for i in act.tolist()])
            eta = eta.to(x0.dtype)
            eta = eta - (eta * unit).flatten(1).sum(dim=1).reshape(shape) * unit
            eta = eta / flat_norm(eta, 2).clamp_min(1e-12).reshape(shape)
            eta = eta * (sigma[act] * dist).reshape(shape).to(x0.dtype)
            # back onto the sphere of radius dist around x0, then towards x0 by μ
            v = xa + eta - xo
            sph = threat.clip_box(xo + v * (dist / flat_norm(v, 2).clamp_min(1e-12)).reshape(shape))
            cand = threat.clip_box(sph + mu[act].reshape(shape).to(x0.dtype) * (xo - sph))
            both = lab.adversarial(torch.cat([sph, cand]), torch.cat([pos[act], pos[act]]))
            ok_s, ok_c = both[: act.numel()], both[act.numel() :]
            slot = step % _WINDOW
            hist_s[act, slot] = ok_s.double()
            hist_c[act, slot] = torch.where(ok_s, ok_c.double(), torch.nan)
            take = act[ok_c]
            if take.numel():
                x[take] = cand[ok_c]
                best.update(
                    pos[take],
                    cand[ok_c],
                    flat_norm(cand[ok_c] - x0[take], 2),
                    within_cap(sub.subset(take), cand[ok_c]),
                )
            if (step + 1) % self.adapt_every == 0:
                self._adapt(sigma, mu, hist_s, hist_c)

    def _adapt(self, sigma: Tensor, mu: Tensor, hist_s: Tensor, hist_c: Tensor) -> None:
        """Per-sample step-size adaptation from the recent success rates (in place)."""
        f = self.step_adaptation
        rs, rc = _rate(hist_s), _rate(hist_c)
        up_s, down_s = rs > 0.5, rs < 0.2
        sigma.mul_(torch.where(up_s, f, torch.where(down_s, 1 / f, 1.0)))
        mu.mul_(torch.where(up_s, f, torch.where(down_s, 1 / f, 1.0)))
        mu.mul_(torch.where(rc > 0.5, f, torch.where(rc < 0.2, 1 / f, 1.0)))
        sigma.clamp_(max=0.5)
        mu.clamp_(max=0.5)
        for h, moved in ((hist_s, up_s | down_s), (hist_c, (rc > 0.5) | (rc < 0.2))):
            h[moved] = torch.nan  # judge the new step size on fresh trials
