"""JSMA, the Jacobian-based saliency map attack: change as few features as possible.

Problem (Papernot, McDaniel, Jha, Fredrikson, Celik & Swami 2016, "The Limitations of Deep
Learning in Adversarial Settings"): the least ℓ0 perturbation that makes the model predict
a target class t. At each iteration the Jacobian of the logits Z gives, for every pair of
features (p, q) still in the search domain,

    α_pq = ∂Z_t/∂x_p + ∂Z_t/∂x_q,    β_pq = Σ_{j≠t} (∂Z_j/∂x_p + ∂Z_j/∂x_q),

and the pair with the largest saliency −α_pq·β_pq among those with α > 0, β < 0 (θ > 0:
features are increased) or α < 0, β > 0 (θ < 0: decreased) is moved by θ·(hi − lo) and
clipped to the box. A feature leaves the search domain once modified (or when it already
sits at the edge it would move towards). Each sample stops as soon as it succeeds, when
it has changed ⌊γ·d⌋ features (d features in all) or the threat's k = ⌊ε⌋, or when no
pair can raise Z_t against the other classes.

Two details beyond the paper, both to keep a stalled saliency map from passing for
robustness: when no pair meets the sign conditions, the pair with the largest
θ·(α − β) > 0 is taken; and when a sample has room for one more feature only, the best
single feature is changed (the same rule with p = q). The Jacobian is of the logits (as
in Carlini & Wagner's re-run of JSMA): two gradient calls per iteration, ∇Z_t and ∇Σ_j Z_j.

Untargeted attacks use a target rule: JSMA runs towards each of the ``candidates`` most
likely incorrect classes of the clean logits (default 1, the runner-up), stopping as soon
as the label changes, and keeps the success that changed the fewest features.

Threat model: :class:`~advkit.threat.L0` (a feature is one input coordinate; on RGB images
each channel counts); ε caps the number of changed features, ``L0(math.inf)`` for none.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(4, 16) * 0.5, torch.tensor([0, 1, 2, 0])
    >>> res = advkit.attack(model, x, y, advkit.L0(math.inf), advkit.JSMA())
    >>> bool((res.distance <= 16).all())
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.attacks._engine import Problem
from advkit.attacks._minimal import Smallest, start_smallest
from advkit.engine import Attack, AttackInfo
from advkit.objectives import is_successful
from advkit.targets import top_others

__all__ = ["JSMA", "saliency_pairs"]

# elements of one chunk of pair scores (rows × d × d)
_CHUNK = 2**23


@dataclass(frozen=True)
class _TargetLogit:
    """Z_t (the function whose gradient gives α)."""

    name: str = "target-logit"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        assert target is not None
        return logits.gather(1, target[:, None]).squeeze(1)


@dataclass(frozen=True)
class _LogitSum:
    """Σ_j Z_j (its gradient minus ∇Z_t gives β)."""

    name: str = "logit-sum"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return logits.sum(dim=1)


def saliency_pairs(
    a: Tensor, b: Tensor, domain: Tensor, increase: bool, single: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The most salient pair of features per row.

    Args:
        a: ∂Z_t/∂x per feature, shape (M, d).
        b: Σ_{j≠t} ∂Z_j/∂x per feature, shape (M, d).
        domain: (M, d) bool, the features that may still be modified.
        increase: θ > 0 (features go up) or θ < 0.
        single: (M,) bool, rows with room for one more feature only: they pick a single
            feature (p = q, α = 2∂Z_t/∂x_p) instead of a pair.

    Returns:
        ``(p, q, found)``: feature indices (M,) and whether a pair qualified. The pair
        maximizes −α·β subject to the sign conditions (θ·α > 0, θ·β < 0); without a
        qualifying pair, the one maximizing θ·(α − β) > 0.
    """
    m, d = a.shape
    sign = 1.0 if increase else -1.0
    # θ·α > 0 and θ·β < 0  ⇔  relu(θα)·relu(−θβ) > 0, which then equals −α·β; features
    # outside the domain get θa = −inf, so every pair with one of them scores 0
    sa_all = (sign * a).masked_fill(~domain, -math.inf)
    sb_all = -sign * b
    diag_ok = single if single is not None else torch.zeros(m, dtype=torch.bool)
    eye = torch.eye(d, dtype=torch.bool, device=a.device)
    ps, qs, founds = [], [], []
    rows = max(1, _CHUNK // max(d * d, 1))
    for s in range(0, m, rows):
        sa, sb = sa_all[s : s + rows], sb_all[s : s + rows]
        score = (sa[:, :, None] + sa[:, None, :]).clamp_(min=0)
        score.mul_((sb[:, :, None] + sb[:, None, :]).clamp_(min=0))
        one = diag_ok[s : s + rows].to(score.device)
        # pairs p ≠ q, except rows with room for one feature only: those pick p = q
        allowed = torch.where(one[:, None, None], eye, ~eye)
        score.mul_(allowed)
        best, idx = score.reshape(sa.shape[0], -1).max(dim=1)
        found = best > 0
        stuck = (~found).nonzero().squeeze(1)
        if stuck.numel():
            # fallback: the largest θ·(α − β) among allowed pairs, if positive
            ua = sa[stuck] + sb[stuck]
            loose = ua[:, :, None] + ua[:, None, :]
            loose.masked_fill_(~allowed[stuck], -math.inf)
            lbest, lidx = loose.reshape(stuck.numel(), -1).max(dim=1)
            idx[stuck] = lidx
            found[stuck] = lbest > 0
        ps.append(idx // d)
        qs.append(idx % d)
        founds.append(found)
    return torch.cat(ps), torch.cat(qs), torch.cat(founds)


@dataclass(frozen=True)
class JSMA(Attack):
    """Jacobian-based saliency map attack (minimal L0, white-box).

    Args:
        theta: change of a chosen feature as a fraction of the box width, its sign the
            direction (default +1: set features to the top of the box; −1: to the bottom).
        gamma: the largest fraction of features changed, in (0, 1] (default 1: no limit
            beyond the threat's ε; Papernot et al. use 0.145 on MNIST).
        candidates: untargeted only, the number of most likely incorrect classes tried as
            targets (default 1).

    Gradient calls per sample: at most ``2 × ⌈min(γ·d, k)/2⌉`` per target (two per
    iteration, one or two features per iteration), times ``candidates`` when untargeted.
    """

    theta: float = 1.0
    gamma: float = 1.0
    candidates: int = 1

    info = AttackInfo(
        "jsma",
        "minimal L0: Jacobian saliency map over feature pairs, θ=+1, Papernot 2016",
        norms=("l0",),
        minimal=True,
    )

    def __post_init__(self) -> None:
        if not (-1.0 <= self.theta <= 1.0) or self.theta == 0:
            raise ValueError(f"theta must be in [-1, 1] and nonzero, got {self.theta}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")

    def run(self, problem: Problem) -> Tensor:
        if problem.threat.p != 0:
            raise ValueError(
                f"JSMA is an L0 attack, not {problem.threat.name}; use advkit.L0(k) (at most k "
                "changed features) or advkit.L0(math.inf)"
            )
        best = start_smallest(problem)
        local = (~best.success).nonzero().squeeze(1)
        if local.numel() == 0:
            return best.x
        sub = problem.subset(local)
        if sub.target is not None:
            self._attack(sub, local, sub.target, best)
            return best.x
        logits0 = sub.white_box.logits(sub.x0, sub.rows)
        k = min(self.candidates, logits0.shape[1] - 1)
        targets = top_others(logits0, sub.y, k)
        for j in range(k):
            self._attack(sub, local, targets[:, j], best)
        return best.x

    def _attack(self, sub: Problem, local: Tensor, target: Tensor, best: Smallest) -> None:
        """JSMA towards ``target`` on ``sub`` (rows ``local`` of the parent problem)."""
        lo, hi = sub.threat.lo, sub.threat.hi
        increase = self.theta > 0
        n, d = len(sub), sub.x0[0].numel()
        x0 = sub.x0.reshape(n, -1)
        x = x0.clone()
        domain = x < hi if increase else x > lo
        k = sub.threat.radius(sub.x0).reshape(-1).double().clamp_max(d).floor().long().cpu()
        limit = k.clamp_max(math.floor(self.gamma * d + 1e-9))
        act = (limit >= 1).nonzero().squeeze(1)
        shape = sub.x0.shape[1:]
        step = self.theta * (hi - lo)

        def record(rows: Tensor, logits: Tensor) -> Tensor:
            part = sub.subset(rows)
            ok = is_successful(logits, part.y, part.target)
            xr = x[rows]
            l0 = (xr != x0[rows]).sum(dim=1).to(xr.dtype)
            best.update(local[rows], xr.reshape(-1, *shape), l0, ok)
            return ok

        while act.numel():
            part = sub.subset(act)
            xa = x[act].reshape(-1, *shape)
            logits, _, ga = part.value_and_grad(xa, _TargetLogit(), target[act])
            keep = (~record(act, logits)).nonzero().squeeze(1)
            act, part, xa, ga = act[keep], part.subset(keep), xa[keep], ga[keep]
            if act.numel() == 0:
                break
            _, _, gs = part.value_and_grad(xa, _LogitSum(), target[act])
            a = ga.reshape(act.numel(), -1)
            b = gs.reshape(act.numel(), -1) - a
            room = limit[act] - (x[act] != x0[act]).sum(dim=1)
            p, q, found = saliency_pairs(a, b, domain[act], increase, single=room == 1)
            rows, p, q = act[found], p[found], q[found]
            x[rows, p] = (x[rows, p] + step).clamp(lo, hi)
            domain[rows, p] = False
            two = p != q
            x[rows[two], q[two]] = (x[rows[two], q[two]] + step).clamp(lo, hi)
            domain[rows[two], q[two]] = False
            left = limit[rows] - (x[rows] != x0[rows]).sum(dim=1)
            more = (left >= 1) & domain[rows].any(dim=1)
            last = rows[~more]
            if last.numel():  # no further change possible: one forward pass decides
                record(
                    last,
                    sub.subset(last).white_box.logits(x[last].reshape(-1, *shape), sub.rows[last]),
                )
            act = rows[more]
