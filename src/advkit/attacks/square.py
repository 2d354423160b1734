"""Square attack: random search over square-shaped updates, score-only, L∞ and L2.

Finds a point of the threat's ball (∩ box) where the margin ``log F_y − max_{j≠y} log F_j``
(targeted: ``max_{j≠t} log F_j − log F_t``) is negative, using only the model's scores. Each
iteration changes one random square window (two for L2) of side ``s`` at the boundary of
the ball and keeps the change if the margin decreases; ``s`` shrinks on a fixed schedule
(the fraction ``p`` of changed pixels halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000
and 8000 of 10000 scaled iterations). One model query per iteration per sample; each
sample stops as soon as it is broken or its budget is spent.

Paper: Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient
black-box adversarial attack via random search", ECCV 2020.

Example:
    >>> import torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> oracle = advkit.ScoreOnly(model, budget=200)
    >>> res = advkit.attack(oracle, x, y, advkit.Linf(0.1), advkit.Square(queries=200))
    >>> bool((res.queries <= 200).all())
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.access import Access
from advkit.attacks._engine import BestSoFar, Problem
from advkit.attacks._scores import log_probs, score_margin, score_start
from advkit.engine import Attack, AttackInfo
from advkit.objectives import is_successful

__all__ = ["Square"]

_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def _fraction(p_init: float, it: int, iters: int) -> float:
    """The fraction of pixels to change at iteration ``it`` of ``iters``."""
    scaled = int(it / iters * 10000)
    return p_init / 2 ** sum(scaled > t for t in _HALVINGS)


def _window(start: Tensor, s: int, size: int) -> Tensor:
    """(n, size) bool: positions start..start+s−1 along one axis, per sample."""
    pos = torch.arange(size)
    return (pos >= start[:, None]) & (pos < start[:, None] + s)


def _pulse(s: int) -> Tensor:
    """Square attack's L2 update pattern of side s: two stacked blocks of opposite sign,
    each a sum of nested centred rectangles with weights 1/(k+1)², unit L2 norm."""

    def rect(a: int, b: int) -> Tensor:
        ca, cb = a // 2, b // 2
        k_max = max(a // 2 + 1, b // 2 + 1)
        dist = torch.maximum(
            (torch.arange(a) - ca).abs()[:, None], (torch.arange(b) - cb).abs()[None, :]
        )
        w = 1.0 / (torch.arange(k_max, dtype=torch.float64) + 1) ** 2
        tail = w.flip(0).cumsum(0).flip(0)  # tail[d] = Σ_{k ≥ d} w[k]
        return tail[dist]

    top = s // 2
    out = torch.cat([rect(top, s), -rect(s - top, s)]) if top else rect(s, s)
    return (out / out.norm()).float()


def _place(patterns: Tensor, which: Tensor, top: Tensor, left: Tensor, h: int, w: int) -> Tensor:
    """Put pattern ``patterns[which[n]]`` (s×s) at (top[n], left[n]) of an h×w canvas."""
    s = patterns.shape[-1]
    ri = torch.arange(h)[None, :] - top[:, None]
    ci = torch.arange(w)[None, :] - left[:, None]
    inside = ((ri >= 0) & (ri < s))[:, :, None] & ((ci >= 0) & (ci < s))[:, None, :]
    vals = patterns[
        which[:, None, None], ri.clamp(0, s - 1)[:, :, None], ci.clamp(0, s - 1)[:, None, :]
    ]
    return (vals * inside)[:, None]


def _sum_hw(t: Tensor) -> Tensor:
    return t.sum(dim=(-2, -1), keepdim=True)


@dataclass(frozen=True)
class Square(Attack):
    """Square attack (Andriushchenko et al. 2020) for L∞ or L2 threats, score-only.

    Args:
        queries: maximum model queries per sample, including the clean evaluation and the
            initial perturbation (default 5000, as in AutoAttack).
        p_init: initial fraction of pixels changed per iteration (default 0.8, AutoAttack's
            value; the paper uses 0.05 on ImageNet).

    Inputs must be images (N, C, H, W). Needs :class:`~advkit.access.ScoreOnly` access.
    """

    queries: int = 5000
    p_init: float = 0.8

    info = AttackInfo(
        "square",
        "Square attack, score-only random search, 5000 queries, L∞/L2, 2020",
        Access.SCORES,
        norms=("linf", "l2"),
    )

    def __post_init__(self) -> None:
        if self.queries < 2:
            raise ValueError(f"queries must be >= 2 (clean point and one try), got {self.queries}")
        if not 0 < self.p_init <= 1:
            raise ValueError(f"p_init must be in (0, 1], got {self.p_init}")

    def run(self, problem: Problem) -> Tensor:
        if problem.x0.dim() != 4:
            raise ValueError(
                "Square needs image inputs of shape (N, C, H, W), got shape "
                f"{tuple(problem.x0.shape)}"
            )
        best, _ = score_start(problem)
        left = torch.clamp(problem.oracle.remaining(problem.rows), max=self.queries - 1)
        active = (~best.success & (left > 0)).nonzero().squeeze(1)
        if active.numel():
            self._search(problem.subset(active), best, active, left[active])
        return best.x

    def _search(self, problem: Problem, best: BestSoFar, local: Tensor, left: Tensor) -> None:
        """Random search on positions ``local`` of ``best``; ``left`` queries each."""
        n, c, h, w = problem.x0.shape
        l2 = problem.threat.name == "l2"
        iters = int(left.max())
        gens = problem.generators("squares")
        # per-sample uniforms for every iteration: window corners (two windows for L2),
        # channel signs, and for L2 a transpose bit
        k = (4 + c + 1) if l2 else (2 + c)
        u = torch.stack([torch.rand(iters, k, generator=g) for g in gens])
        eps = problem.threat.radius(problem.x0)
        x = self._init(problem, gens, eps)
        used = torch.zeros(n, dtype=torch.long)
        sub, pos = problem, torch.arange(n)
        patterns: dict[int, Tensor] = {}
        for it in range(iters):
            logp = log_probs(sub, x, sub.rows)
            succ = is_successful(logp, sub.y, sub.target)
            best.update(local[pos], x, -score_margin(logp, sub.y, sub.target), succ)
            used[pos] += 1
            keep = (~succ & (used[pos] < left[pos])).nonzero().squeeze(1)
            if keep.numel() == 0:
                return
            if keep.numel() < pos.numel():
                sub, pos = sub.subset(keep), pos[keep]
            current = best.x[local[pos]]
            s = round(math.sqrt(_fraction(self.p_init, it, self.queries) * h * w))
            if l2:
                s = min(max(s, 3) + (max(s, 3) % 2 == 0), h, w)
                x = self._l2_step(sub, current, u[pos, it], s, eps[pos], patterns)
            else:
                s = min(max(s, 1), max(h - 1, 1), max(w - 1, 1))
                x = self._linf_step(sub, current, u[pos, it], s, eps[pos])

    def _init(self, problem: Problem, gens: list[torch.Generator], eps: Tensor) -> Tensor:
        """Vertical ±ε stripes (L∞) or a grid of random ±pulses scaled to norm ε (L2)."""
        x0 = problem.x0
        n, c, h, w = x0.shape
        if problem.threat.name == "linf":
            signs = torch.stack([torch.randint(0, 2, (c, 1, w), generator=g) for g in gens]).to(
                x0.dtype
            )
            return problem.threat.project(x0 + eps * (2 * signs - 1), x0)
        s = max(h // 5, 1)
        pulse = _pulse(s)
        delta = torch.zeros_like(x0)
        top0 = (h - s * (h // s)) // 2
        left0 = (w - s * (w // s)) // 2
        for i in range(h // s):
            for j in range(w // s):
                draw = torch.stack([torch.rand(c + 1, generator=g) for g in gens])
                pat = torch.where(draw[:, -1:, None] < 0.5, pulse.flatten(), pulse.T.flatten())
                sign = torch.where(draw[:, :c] < 0.5, -1.0, 1.0)
                block = sign[:, :, None, None] * pat.reshape(n, 1, s, s)
                r, q = top0 + i * s, left0 + j * s
                delta[:, :, r : r + s, q : q + s] += block
        norm = delta.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
        return problem.threat.project(x0 + delta / norm * eps, x0)

    def _linf_step(self, sub: Problem, x: Tensor, u: Tensor, s: int, eps: Tensor) -> Tensor:
        _, c, h, w = x.shape
        x0 = sub.x0
        top = (u[:, 0] * (h - s + 1)).long().clamp_max(h - s)
        lft = (u[:, 1] * (w - s + 1)).long().clamp_max(w - s)
        mask = (_window(top, s, h)[:, :, None] & _window(lft, s, w)[:, None, :])[:, None]
        sign = torch.where(u[:, 2 : 2 + c] < 0.5, -1.0, 1.0).to(x.dtype)[:, :, None, None]
        cand = sub.threat.clip_box(x0 + eps * sign)
        new = torch.where(mask, cand, x)
        same = ((new - x).abs() < 1e-7).flatten(1).all(dim=1)
        if same.any():  # the window already holds these signs: flip them
            flipped = torch.where(mask, sub.threat.clip_box(x0 - eps * sign), x)
            new = torch.where(same[:, None, None, None], flipped, new)
        return new

    def _l2_step(
        self,
        sub: Problem,
        x: Tensor,
        u: Tensor,
        s: int,
        eps: Tensor,
        patterns: dict[int, Tensor],
    ) -> Tensor:
        _, c, h, w = x.shape
        x0 = sub.x0
        if s not in patterns:
            patterns[s] = torch.stack([_pulse(s), _pulse(s).T])
        top1 = (u[:, 0] * (h - s + 1)).long().clamp_max(h - s)
        lft1 = (u[:, 1] * (w - s + 1)).long().clamp_max(w - s)
        top2 = (u[:, 2] * (h - s + 1)).long().clamp_max(h - s)
        lft2 = (u[:, 3] * (w - s + 1)).long().clamp_max(w - s)
        m1 = (_window(top1, s, h)[:, :, None] & _window(lft1, s, w)[:, None, :])[:, None]
        m2 = (_window(top2, s, h)[:, :, None] & _window(lft2, s, w)[:, None, :])[:, None]
        delta = x - x0
        union = m1 | m2
        norm_w1 = _sum_hw((delta * m1) ** 2).sqrt()
        norm_windows = _sum_hw((delta * union) ** 2).sqrt()
        norm_img = delta.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
        which = (u[:, -1] < 0.5).long()
        sign = torch.where(u[:, 4 : 4 + c] < 0.5, -1.0, 1.0).to(x.dtype)[:, :, None, None]
        new = _place(patterns[s], which, top1, lft1, h, w).to(x.dtype) * sign
        new = new + delta * m1 / (norm_w1 + 1e-12)
        scale = ((eps**2 - norm_img**2).clamp_min(0) / c + norm_windows**2).sqrt()
        new = new / (_sum_hw(new**2).sqrt() + 1e-12) * scale
        delta = torch.where(m1, new, torch.where(m2, torch.zeros_like(delta), delta))
        dnorm = delta.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
        return sub.threat.project(x0 + delta / dnorm * eps, x0)
