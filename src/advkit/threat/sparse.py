"""The sparse threat models: the ℓ1 ball and the L0 budget (at most k changed features)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from advkit.threat.base import Bounds, ThreatModel, _bisect, _flat, _unblocked

__all__ = ["L0", "L1"]


@dataclass(frozen=True, eq=False)
class L1(ThreatModel):
    """ℓ1 ball: the sum of absolute changes is at most ε (sparse perturbations).

    Args:
        sparsity: the steepest-ascent step moves only the coordinates whose |gradient| is
            at or above this quantile (the sparse ℓ1 descent of Tramèr & Boneh 2019,
            "Adversarial Training and Robustness for Multiple Perturbations"; q=0.99 moves
            the top 1%, and at least one coordinate). Coordinates already at the box edge
            with a gradient pointing out of the box are never chosen.
    """

    sparsity: float = 0.99

    p: ClassVar[float] = 1.0
    name: ClassVar[str] = "l1"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")

    def _project_set(self, z: Tensor, bounds: Bounds) -> Tensor:
        lo, hi, eps = bounds.lo, bounds.hi, bounds.eps
        # KKT: δ(θ) = clip(soft(z, θ), lo, hi); ‖δ(θ)‖₁ shrinks as θ grows. θ of the plain
        # ℓ1-ball projection (Duchi et al. 2008, sort-based) is feasible and exact if the
        # box is slack; bisection between 0 and it finds the smallest feasible θ.
        clipped = z.clamp(lo, hi)
        outside = clipped.abs().sum(dim=1) > eps
        if not outside.any():
            return clipped
        zo, lo_o, hi_o, e = z[outside], lo[outside], hi[outside], eps[outside]
        a = zo.abs()
        mu = a.sort(dim=1, descending=True).values
        cums = mu.cumsum(dim=1)
        ks = torch.arange(1, a.shape[1] + 1, device=a.device, dtype=a.dtype)
        # the last index where mu_k·k > cums_k − ε: cond·k peaks there
        rho = ((mu * ks > cums - e[:, None]) * ks).argmax(dim=1, keepdim=True)
        theta_ok = ((cums.gather(1, rho) - e[:, None]) / (rho + 1).to(a.dtype)).squeeze(1)

        def shrink(theta: Tensor) -> Tensor:
            return (zo.sign() * (a - theta[:, None]).clamp_min(0)).clamp(lo_o, hi_o)

        theta = _bisect(
            lambda th: shrink(th).abs().sum(dim=1),
            theta_ok.clamp_min(0),
            torch.zeros_like(theta_ok),
            e,
        )
        clipped[outside] = shrink(theta)
        return clipped

    def ascent(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        flat = _unblocked(g, x, self.lo, self.hi)
        a = flat.abs()
        d = a.shape[1]
        k = max(1, round((1.0 - self.sparsity) * d))
        kth = a.topk(k, dim=1).values[:, -1:]
        chosen = (a >= kth) & (a > 0)
        step = flat.sign() * chosen
        count = chosen.sum(dim=1, keepdim=True).clamp_min(1)
        return (step / count).reshape(g.shape)

    def _sample_unit(self, d: int, g: torch.Generator) -> Tensor:
        # uniform in the unit ℓ1 ball: d+1 exponentials normalized, random signs
        e = -torch.log(torch.rand(d + 1, generator=g, device=g.device).clamp_min(1e-30))
        signs = torch.randint(0, 2, (d,), generator=g, device=g.device) * 2 - 1
        return signs * e[:d] / e.sum()


@dataclass(frozen=True, eq=False)
class L0(ThreatModel):
    """ℓ0 "ball": at most k = ⌊ε⌋ features differ from x0, each anywhere in the box.

    A *feature* is one coordinate of the input, as for every threat model here: on a
    multi-channel image each channel value counts separately (a pixel changed in all three
    RGB channels counts 3), which is also how ``AttackResult.distances()["l0"]`` counts.
    The magnitude of a change is bounded only by the box. ``norm`` counts the nonzero
    entries of δ exactly (no tolerance). Papernot et al. 2016 (JSMA) attack this set; see
    :class:`~advkit.attacks.jsma.JSMA`.

    - ``project``: the exact Euclidean projection onto {‖δ‖₀ ≤ k} ∩ box: every coordinate
      is clipped to the box, and the k coordinates whose clipped change removes the most
      squared distance (z² − (z − clip(z))², which is the squared change itself for points
      inside the box) are kept; the others return to x0. For points in the box it keeps
      exactly the k largest changes.
    - ``ascent``: the k features with the largest |gradient| that the box does not block,
      each moved by sign(g)·(hi − lo)/ε, so that the step α = rel_step·ε of the gradient
      attacks moves them by rel_step·(hi − lo) (the maximizer of ⟨g, s⟩ over s with at most
      k nonzero entries of that size).
    - ``sample``: k features drawn uniformly without replacement, each set uniformly in the
      box (per-sample generators).
    - ``support``: max over {‖δ‖₀ ≤ k} of ⟨a, δ⟩ with the box ignored is +∞ (0 when a = 0
      or k = 0); ℓ0 has no dual norm, so certifiers do not accept this threat.

    Example:
        >>> import torch
        >>> from advkit import L0
        >>> x0 = torch.zeros(1, 5)
        >>> L0(2).project(torch.tensor([[0.1, -0.5, 0.9, 0.3, 2.0]]), x0)
        tensor([[0.0000, 0.0000, 0.9000, 0.0000, 1.0000]])
    """

    p: ClassVar[float] = 0.0
    name: ClassVar[str] = "l0"

    def counts(self, like: Tensor) -> Tensor:
        """k = ⌊ε⌋ per sample as a (N,) long tensor, at most the number of features."""
        d = like[0].numel() if like.shape[0] else 0
        e = self.radius(like).reshape(-1).double().clamp_max(d)
        return e.floor().long()

    def norm(self, delta: Tensor) -> Tensor:
        """The number of changed features of each sample, shape (N,) (in δ's dtype)."""
        return (_flat(delta) != 0).sum(dim=1).to(delta.dtype)

    def dual_norm(self, a: Tensor, batch_dims: int = 1) -> Tensor:
        raise ValueError(
            "ℓ0 has no dual norm (it is not a norm): bounds over an L0 set need the box; "
            "use an L∞, L2 or L1 threat for certification and norm regularizers"
        )

    def support(self, a: Tensor, batch_dims: int = 1) -> Tensor:
        """``max_{‖δ‖₀ ≤ k} ⟨a, δ⟩`` with the box ignored: +∞ unless a = 0 or k = 0."""
        flat = a.reshape(*a.shape[:batch_dims], -1)
        k = self.radius(a).reshape(-1, *([1] * (batch_dims - 1))).expand(flat.shape[:-1])
        nonzero = (flat != 0).any(dim=-1)
        inf = torch.full_like(k, math.inf)
        return torch.where(nonzero & (k >= 1), inf, torch.zeros_like(k))

    def _project_set(self, z: Tensor, bounds: Bounds) -> Tensor:
        lo, hi, eps = bounds.lo, bounds.hi, bounds.eps
        clipped = z.clamp(lo, hi)
        gain = z.square() - (z - clipped).square()
        d = z.shape[1]
        k = eps.double().clamp_max(d).floor().long()
        order = gain.argsort(dim=1, descending=True, stable=True)
        rank = torch.empty_like(order).scatter_(
            1, order, torch.arange(d, device=z.device).expand_as(order).contiguous()
        )
        keep = rank < k[:, None].to(rank.device)
        return torch.where(keep, clipped, torch.zeros_like(clipped))

    def ascent(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        flat = _unblocked(g, x, self.lo, self.hi)
        k = self.counts(g)
        a = flat.abs()
        order = a.argsort(dim=1, descending=True, stable=True)
        rank = torch.empty_like(order).scatter_(
            1, order, torch.arange(a.shape[1], device=g.device).expand_as(order).contiguous()
        )
        chosen = (rank < k[:, None].to(rank.device)) & (a > 0)
        eps = self.radius(g).reshape(-1, 1)
        scale = torch.where(k[:, None].to(eps.device) > 0, (self.hi - self.lo) / eps, 0.0)
        return (flat.sign() * chosen * scale).reshape(g.shape)

    def sample(self, x0: Tensor, generators: list[torch.Generator]) -> Tensor:
        """k features per sample, chosen uniformly and set uniformly in the box."""
        k = self.counts(x0).tolist()
        d = x0[0].numel() if x0.shape[0] else 0
        out = _flat(x0).clone()
        for i, (g, ki) in enumerate(zip(generators, k, strict=True)):
            idx = torch.randperm(d, generator=g, device=g.device)[:ki]
            vals = self.lo + (self.hi - self.lo) * torch.rand(ki, generator=g, device=g.device)
            out[i, idx.to(out.device)] = vals.to(out.device, out.dtype)
        return out.reshape(x0.shape)
