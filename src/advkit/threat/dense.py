"""The ℓ∞ and ℓ2 balls."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from advkit.threat.base import Bounds, ThreatModel, _bisect, _flat, _per_sample

__all__ = ["L2", "Linf"]


@dataclass(frozen=True, eq=False)
class Linf(ThreatModel):
    """ℓ∞ ball: every coordinate moves by at most ε (FGSM/PGD's classic setting)."""

    p: ClassVar[float] = math.inf
    name: ClassVar[str] = "linf"

    def norm(self, delta: Tensor) -> Tensor:
        """max_i |δ_i| per sample: ``vector_norm(ord=inf)``'s values in one cheap pass."""
        return _flat(delta).abs().amax(dim=1)

    def bounds(self, x0: Tensor) -> Bounds:
        """The box's offsets from x0 cut to [−ε, ε]: the set is then a box of its own."""
        b = super().bounds(x0)
        e = b.eps[:, None]
        return Bounds(torch.maximum(b.lo, -e), torch.minimum(b.hi, e), b.eps)

    def _project_set(self, z: Tensor, bounds: Bounds) -> Tensor:
        return z.clamp(bounds.lo, bounds.hi)

    def ascent(self, g: Tensor, x: Tensor | None = None) -> Tensor:
        return g.sign()

    def _sample_unit(self, d: int, g: torch.Generator) -> Tensor:
        return torch.rand(d, generator=g, device=g.device) * 2 - 1


@dataclass(frozen=True, eq=False)
class L2(ThreatModel):
    """ℓ2 ball: the perturbation's Euclidean length is at most ε."""

    p: ClassVar[float] = 2.0
    name: ClassVar[str] = "l2"

    def _project_set(self, z: Tensor, bounds: Bounds) -> Tensor:
        lo, hi, eps = bounds.lo, bounds.hi, bounds.eps
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
        v = torch.randn(d, generator=g, device=g.device)
        r = torch.rand(1, generator=g, device=g.device) ** (1.0 / d)
        return v / v.norm().clamp_min(1e-12) * r
