"""The threat model base: an ℓp ball (or L0 budget) around x0 within the input box."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

from advkit.threat.rounding import round_toward

__all__ = ["Bounds", "ThreatModel"]


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
class Bounds:
    """What projecting onto the set around x0 needs of x0 (:meth:`ThreatModel.bounds`).

    Attributes:
        lo: (N, D) the least perturbation of each coordinate (``lo − x0``; for L∞ also
            ``≥ −ε``).
        hi: (N, D) the largest (``hi − x0``; for L∞ also ``≤ ε``).
        eps: (N,) each sample's radius.
    """

    lo: Tensor
    hi: Tensor
    eps: Tensor


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
        if isinstance(eps, bool) or (isinstance(eps, Tensor) and eps.dtype == torch.bool):
            raise TypeError(
                f"eps must be a number, not a bool (got {eps!r}); write the radius itself, "
                f"e.g. {type(self).__name__}(1.0) for ε = 1"
            )
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

    def eps_vector(self, n: int, device: torch.device | str | None = None) -> Tensor:
        """ε as a (N,) float tensor on ``device`` (None: a per-sample ε's own device, else
        the default device)."""
        if isinstance(self.eps, Tensor):
            return self.eps.detach().float().to(device, copy=True)
        return torch.full((n,), float(self.eps), device=device)

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

    def unblocked(self, g: Tensor, x: Tensor) -> Tensor:
        """``g`` with zeros where a step along it would leave the box at ``x``: coordinates
        already at ``lo`` (``hi``) where ``g`` points down (up). Same shape as ``g``."""
        return _unblocked(g, x, self.lo, self.hi).reshape(g.shape)

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
        return self.project_within(x, x0, self.bounds(x0))

    def bounds(self, x0: Tensor) -> Bounds:
        """What :meth:`project` needs of x0 alone; an attack projecting many times around
        the same x0 computes it once and calls :meth:`project_within`."""
        return Bounds(_flat(self.lo - x0), _flat(self.hi - x0), self.radius(x0).reshape(-1))

    def project_within(self, x: Tensor, x0: Tensor, bounds: Bounds) -> Tensor:
        """:meth:`project` with x0's :meth:`bounds` given: the same points, bit for bit.

        Example:
            >>> import torch
            >>> from advkit import Linf
            >>> x0, x = torch.rand(2, 5), torch.rand(2, 5)
            >>> threat = Linf(0.1)
            >>> b = threat.bounds(x0)
            >>> torch.equal(threat.project_within(x, x0, b), threat.project(x, x0))
            True
        """
        delta = self._project_set(_flat(x - x0), bounds)
        return (x0 + delta.reshape(x.shape)).clamp_(self.lo, self.hi)

    def round_to(self, x: Tensor, x0: Tensor, dtype: torch.dtype) -> Tensor:
        """``x``, a point of the set around ``x0``, cast to ``dtype`` and still in the set.

        Rows whose nearest rounding (what a model of that dtype saw during the attack)
        stays in the ball and the box keep it; the others are rounded toward x0 in every
        coordinate, which never moves a coordinate outward, and a row whose norm, measured
        in x's precision, still exceeds ε (the rounding of the projection itself) is shrunk
        toward x0 until it fits. ``x`` is returned as it is when already of ``dtype``.

        Args:
            x: projected points (N, ...) in the working precision (float32 or float64).
            x0: clean points, of x's dtype and exactly representable in ``dtype``.
            dtype: the caller's dtype, e.g. ``torch.bfloat16``.

        Example:
            >>> import torch
            >>> from advkit import Linf
            >>> x0 = torch.zeros(1, 3)
            >>> out = Linf(0.1).round_to(torch.full((1, 3), 0.1), x0, torch.bfloat16)
            >>> bool(out.float().abs().max() <= 0.1)
            True
        """
        if x.dtype == dtype:
            return x
        eps = self.radius(x0).reshape(-1)
        out = x.to(dtype)
        steps = round(math.log2(torch.finfo(dtype).eps))
        for scale in (1.0, *(1.0 - 2.0**k for k in range(steps, 0)), 0.0):  # ends at x0
            escapes = self._escapes(out.to(x.dtype), x0, eps)
            if not bool(escapes.any()):
                break
            inner = x if scale == 1.0 else self.clip_box(x0 + (x - x0) * scale)
            out = torch.where(_per_sample(escapes, x), round_toward(inner, x0, dtype), out)
        return out

    def _escapes(self, x: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
        """(N,) bool: rows of x outside the ball of radius eps around x0 or the box."""
        outside_box = _flat((x < self.lo) | (x > self.hi)).any(dim=1)
        return outside_box | (self.norm(x - x0) > eps)

    def ascent(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        """The steepest-ascent direction of unit ℓp norm for the gradient ``g`` (a new
        tensor, which the caller may modify in place)."""
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

    def _project_set(self, z: Tensor, bounds: Bounds) -> Tensor:
        """Project rows z (N, D) onto {‖δ‖ ≤ eps} ∩ [lo, hi] (the per-coordinate bounds and
        radii of :meth:`bounds`); returns a new tensor."""
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
