"""Threat models: the set Δ(x0) of allowed inputs around a clean point.

A threat model is an ℓp ball of radius ε around x0 intersected with the input box
``[lo, hi]`` (default ``[0, 1]``); :class:`L0` bounds the number of changed features
instead (ε = k). It answers every geometric question an attack or a certifier asks:
projection, the steepest-ascent unit step, uniform sampling, the norm of a perturbation,
and the support function ``max_{‖δ‖≤ε} ⟨a, δ⟩ = ε‖a‖_*`` (dual norm).

ε may be a float or a tensor of shape ``(N,)`` (one radius per sample).

Example:
    >>> import torch
    >>> from advkit import Linf
    >>> threat = Linf(0.3)
    >>> x0 = torch.rand(4, 1, 28, 28)
    >>> x = threat.project(x0 + torch.randn_like(x0), x0)
    >>> bool((threat.norm(x - x0) <= 0.3 + 1e-6).all())
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

__all__ = ["L0", "L1", "L2", "Linf", "ThreatModel"]


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _unblocked(g: Tensor, x: Tensor | None, lo: float, hi: float) -> Tensor:
    """``g`` flattened (N, D), zero where a step along it would leave the box [lo, hi] at
    ``x`` (sparse steps then spend their budget on coordinates that can move)."""
    flat = _flat(g)
    if x is None:
        return flat
    xf = _flat(x)
    blocked = ((xf >= hi) & (flat > 0)) | ((xf <= lo) & (flat < 0))
    return flat.masked_fill(blocked, 0.0)


def _per_sample(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a (N,) tensor so it broadcasts against ``like`` of shape (N, ...)."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


@dataclass(frozen=True, eq=False)
class ThreatModel:
    """An ℓp ball of radius ``eps`` around x0, intersected with the box ``[lo, hi]``.

    Args:
        eps: radius, a float or a tensor of shape (N,) for per-sample radii. Must be ≥ 0.
            ``math.inf`` (no bound) is accepted only by minimal-distortion attacks, which
            then report the distance they need in this norm (see ``docs/minimal.md``).
        lo: lower bound of the input domain (default 0).
        hi: upper bound of the input domain (default 1).
    """

    eps: float | Tensor
    lo: float = 0.0
    hi: float = 1.0

    p: ClassVar[float]
    name: ClassVar[str]

    def __post_init__(self) -> None:
        eps = self.eps
        if isinstance(eps, Tensor):
            if eps.dim() != 1:
                raise ValueError(
                    f"per-sample eps must have shape (N,), got {tuple(eps.shape)}; "
                    "pass a float for one radius shared by all samples"
                )
            if torch.isnan(eps).any() or (eps < 0).any():
                raise ValueError("eps must be finite (or inf) and >= 0 for every sample")
        else:
            if not isinstance(eps, numbers.Real) or math.isnan(eps) or eps < 0:
                raise ValueError(f"eps must be a number >= 0 (or math.inf), got {eps!r}")
        if not self.lo < self.hi:
            raise ValueError(f"the input box needs lo < hi, got lo={self.lo}, hi={self.hi}")

    # ----- radius handling -------------------------------------------------------------
    def radius(self, like: Tensor) -> Tensor:
        """ε as a tensor broadcastable against ``like`` (shape (N, ...))."""
        n = like.shape[0]
        if isinstance(self.eps, Tensor):
            if self.eps.shape[0] != n:
                raise ValueError(
                    f"per-sample eps has {self.eps.shape[0]} entries but the batch has {n}"
                )
            e = self.eps.to(like.device, like.dtype)
        else:
            e = torch.full((n,), float(self.eps), device=like.device, dtype=like.dtype)
        return _per_sample(e, like)

    def eps_vector(self, n: int) -> Tensor:
        """ε as a (N,) float tensor."""
        if isinstance(self.eps, Tensor):
            return self.eps.detach().float().clone()
        return torch.full((n,), float(self.eps))

    def select(self, rows: Tensor) -> ThreatModel:
        """The same threat restricted to the samples ``rows`` (matters for per-sample ε)."""
        if isinstance(self.eps, Tensor):
            return replace(self, eps=self.eps[rows.to(self.eps.device)])
        return self

    @property
    def bounded(self) -> bool:
        """Whether every sample's ε is finite (fixed-ε attacks need a bounded ball)."""
        if isinstance(self.eps, Tensor):
            return bool(torch.isfinite(self.eps).all())
        return math.isfinite(self.eps)

    def with_eps(self, eps: float | Tensor) -> ThreatModel:
        """The same norm and box with another radius."""
        return replace(self, eps=eps)

    # ----- geometry --------------------------------------------------------------------
    def clip_box(self, x: Tensor) -> Tensor:
        """Clip to the input domain."""
        return x.clamp(self.lo, self.hi)

    def norm(self, delta: Tensor) -> Tensor:
        """The ℓp norm of each sample's perturbation, shape (N,)."""
        return torch.linalg.vector_norm(_flat(delta), ord=self.p, dim=1)

    def dual_norm(self, a: Tensor, batch_dims: int = 1) -> Tensor:
        """The dual norm ‖a‖_* over all but the first ``batch_dims`` dimensions."""
        q = _dual(self.p)
        flat = a.reshape(*a.shape[:batch_dims], -1)
        return torch.linalg.vector_norm(flat, ord=q, dim=-1)

    def support(self, a: Tensor, batch_dims: int = 1) -> Tensor:
        """``max_{‖δ‖_p ≤ ε} ⟨a, δ⟩ = ε‖a‖_*`` for each row of ``a`` (box ignored).

        Args:
            a: tensor of shape (N, ...) or (N, K, ...) with ``batch_dims`` leading dims;
                ε is indexed by the first dimension.
            batch_dims: number of leading dimensions that are not reduced.

        Returns:
            Tensor of shape ``a.shape[:batch_dims]``.
        """
        dual = self.dual_norm(a, batch_dims)
        eps = self.radius(a).reshape(-1)  # in a's dtype; checks the per-sample length
        return eps.reshape(-1, *([1] * (batch_dims - 1))) * dual

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        """The Euclidean projection of x onto the ball around x0 intersected with the box.

        Exact for every norm: for L∞ the set is a box; for L2 and L1 the projection onto
        ball ∩ box is found by bisection on the Lagrange multiplier of the norm constraint
        (projecting onto the ball and then clipping would waste budget on coordinates the
        box cuts off; Croce & Hein 2021, "Mind the box").
        """
        z = _flat(x - x0)
        lo, hi = _flat(self.lo - x0), _flat(self.hi - x0)
        delta = self._project_set(z, lo, hi, self.radius(x0).reshape(-1))
        return self.clip_box(x0 + delta.reshape(x.shape))

    def ascent(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        """The steepest-ascent direction of unit ℓp norm for the gradient ``g``."""
        raise NotImplementedError

    def sample(self, x0: Tensor, generators: list[torch.Generator]) -> Tensor:
        """A point drawn uniformly from the ball around each x0 (then clipped to the box).

        Args:
            x0: clean points, shape (N, ...).
            generators: one ``torch.Generator`` per sample, so a sample's draw does not
                depend on which batch it is in.
        """
        rows = [self._sample_unit(x0[i].numel(), g) for i, g in enumerate(generators)]
        unit = torch.stack(rows).to(x0.device, x0.dtype).reshape(x0.shape)
        return self.clip_box(x0 + unit * self.radius(x0))

    def _project_set(self, z: Tensor, lo: Tensor, hi: Tensor, eps: Tensor) -> Tensor:
        """Project rows z (N, D) onto {‖δ‖ ≤ eps} ∩ [lo, hi] (per-coordinate bounds)."""
        raise NotImplementedError

    def _sample_unit(self, d: int, g: torch.Generator) -> Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        eps = self.eps if not isinstance(self.eps, Tensor) else "per-sample"
        return f"{self.name} eps={eps} box=[{self.lo}, {self.hi}]"


def _bisect(norm_at: Callable[[Tensor], Tensor], ok: Tensor, bad: Tensor, eps: Tensor) -> Tensor:
    """Bisect a per-row scalar s between ``ok`` (norm_at(s) ≤ eps) and ``bad`` (> eps).

    ``norm_at`` must be monotone in s. Returns the feasible end, to full precision.
    """
    for _ in range(1 - round(math.log2(torch.finfo(ok.dtype).eps))):
        mid = (ok + bad) / 2
        fits = norm_at(mid) <= eps
        ok, bad = torch.where(fits, mid, ok), torch.where(fits, bad, mid)
    return ok


def _dual(p: float) -> float:
    if p == math.inf:
        return 1.0
    if p == 1:
        return math.inf
    return p / (p - 1)


@dataclass(frozen=True, eq=False)
class Linf(ThreatModel):
    """ℓ∞ ball: every coordinate moves by at most ε (FGSM/PGD's classic setting)."""

    p: ClassVar[float] = math.inf
    name: ClassVar[str] = "linf"

    def _project_set(self, z: Tensor, lo: Tensor, hi: Tensor, eps: Tensor) -> Tensor:
        e = eps[:, None]
        return torch.maximum(torch.minimum(z, e), -e).clamp(lo, hi)

    def ascent(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        return g.sign()

    def _sample_unit(self, d: int, g: torch.Generator) -> Tensor:
        return torch.rand(d, generator=g) * 2 - 1


@dataclass(frozen=True, eq=False)
class L2(ThreatModel):
    """ℓ2 ball: the perturbation's Euclidean length is at most ε."""

    p: ClassVar[float] = 2.0
    name: ClassVar[str] = "l2"

    def _project_set(self, z: Tensor, lo: Tensor, hi: Tensor, eps: Tensor) -> Tensor:
        # KKT: δ(t) = clip(t·z, lo, hi) for t = 1/(1+λ) ∈ (0, 1]; ‖δ(t)‖ grows with t.
        # t = ε/‖z‖ is feasible (clipping only shortens), and exact if the box is slack.
        clipped = z.clamp(lo, hi)
        outside = clipped.norm(dim=1) > eps
        if not outside.any():
            return clipped
        zo, lo_o, hi_o, e = z[outside], lo[outside], hi[outside], eps[outside]
        t_ok = e / zo.norm(dim=1)
        t = _bisect(
            lambda t: (t[:, None] * zo).clamp(lo_o, hi_o).norm(dim=1),
            t_ok,
            torch.ones_like(t_ok),
            e,
        )
        clipped[outside] = (t[:, None] * zo).clamp(lo_o, hi_o)
        return clipped

    def ascent(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        n = _per_sample(self.norm(g), g).clamp_min(1e-12)
        return g / n

    def _sample_unit(self, d: int, g: torch.Generator) -> Tensor:
        v = torch.randn(d, generator=g)
        r = torch.rand(1, generator=g) ** (1.0 / d)
        return v / v.norm().clamp_min(1e-12) * r


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

    def _project_set(self, z: Tensor, lo: Tensor, hi: Tensor, eps: Tensor) -> Tensor:
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
        e = -torch.log(torch.rand(d + 1, generator=g).clamp_min(1e-30))
        signs = torch.randint(0, 2, (d,), generator=g) * 2 - 1
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

    def _project_set(self, z: Tensor, lo: Tensor, hi: Tensor, eps: Tensor) -> Tensor:
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
            idx = torch.randperm(d, generator=g)[:ki]
            vals = self.lo + (self.hi - self.lo) * torch.rand(ki, generator=g)
            out[i, idx.to(out.device)] = vals.to(out.device, out.dtype)
        return out.reshape(x0.shape)
