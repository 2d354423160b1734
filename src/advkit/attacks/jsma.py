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

from advkit.engine import AttackInfo, Best, Evaluation, MinimalAttack, Problem, Round
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
    diag_ok = single if single is not None else torch.zeros(m, dtype=torch.bool, device=a.device)
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


@dataclass
class Saliency:
    """Each sample's flat iterate, search domain, most features changed, and target."""

    x: Tensor
    domain: Tensor
    limit: Tensor
    target: Tensor


@dataclass(frozen=True)
class JSMA(MinimalAttack[Saliency]):
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

    def prepare(self, problem: Problem) -> tuple[Tensor, Tensor]:
        """From the clean logits: which samples already succeed, and each sample's targets
        (one per round: the given target, or the most likely wrong classes)."""
        logits = problem.logits(problem.x0)
        if problem.target is not None:
            return problem.successful(logits), problem.target[:, None]
        k = min(self.candidates, logits.shape[1] - 1)
        return problem.successful(logits), top_others(logits, problem.y, k)

    def begin(self, problem: Problem, context: tuple[Tensor, Tensor]) -> Best:
        return Best.minimizing(problem.x0, context[0])

    def rounds(self, context: tuple[Tensor, Tensor]) -> int:
        return context[1].shape[1]

    def iterations(self, rnd: Round) -> int:
        return rnd.problem.x0[0].numel()  # each iteration leaves a feature out of the domain

    def init(self, rnd: Round) -> tuple[Saliency, Evaluation]:
        p = rnd.problem
        n, d = len(p), p.x0[0].numel()
        x = p.x0.reshape(n, -1)
        k = p.threat.radius(p.x0).reshape(-1).double().clamp_max(d).floor().long()
        limit = k.clamp_max(math.floor(self.gamma * d + 1e-9))
        domain = x < p.threat.hi if self.theta > 0 else x > p.threat.lo
        state = Saliency(x, domain, limit, rnd.context[1][rnd.local, rnd.index])
        zero = torch.zeros(n, device=p.x0.device)
        return state, Evaluation(p.x0, zero, zero > 0, limit < 1)

    def step(self, rnd: Round, s: Saliency, k: int) -> Evaluation:
        p = rnd.problem
        logits, _, ga = p.value_and_grad(s.x.reshape(p.x0.shape), _TargetLogit(), s.target)
        ok = p.successful(logits)
        x, moved = s.x.clone(), torch.zeros_like(ok)
        go = (~ok).nonzero().squeeze(1)
        if go.numel():
            moved[go] = self._move(p.subset(go), s, go, x, ga[go])
        changed = (x != p.x0.reshape(len(p), -1)).sum(dim=1)
        more = moved & (changed < s.limit) & s.domain.any(dim=1)
        last = (moved & ~more).nonzero().squeeze(1)
        if last.numel():  # no further change possible: one forward pass decides
            part = p.subset(last)
            ok[last] = part.successful(part.logits(x[last].reshape(part.x0.shape)))
        s.x = x
        return Evaluation(x.reshape(p.x0.shape), changed.to(x.dtype), ok, ~more)

    def _move(self, part: Problem, s: Saliency, go: Tensor, x: Tensor, ga: Tensor) -> Tensor:
        """Change the most salient pair of features of rows ``go`` of ``x`` (in place);
        returns which rows found one."""
        lo, hi = part.threat.lo, part.threat.hi
        _, _, gs = part.value_and_grad(x[go].reshape(part.x0.shape), _LogitSum(), s.target[go])
        a = ga.reshape(go.numel(), -1)
        b = gs.reshape(go.numel(), -1) - a
        room = s.limit[go] - (x[go] != part.x0.reshape(go.numel(), -1)).sum(dim=1)
        p, q, found = saliency_pairs(a, b, s.domain[go], self.theta > 0, single=room == 1)
        rows, p, q = go[found], p[found], q[found]
        step = self.theta * (hi - lo)
        x[rows, p] = (x[rows, p] + step).clamp(lo, hi)
        s.domain[rows, p] = False
        two = p != q
        x[rows[two], q[two]] = (x[rows[two], q[two]] + step).clamp(lo, hi)
        s.domain[rows[two], q[two]] = False
        return found
