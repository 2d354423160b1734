"""Sigmoid and tanh: tangent/secant relaxations of S-shaped activations (CROWN, α-CROWN).

Both functions f are increasing, convex on (−∞, 0], concave on [0, ∞) and point-symmetric
about (0, f(0)). For an input h ∈ [l, u] (Zhang et al. 2018, "Efficient neural network
robustness certification with general activation functions"; auto_LiRPA's ``BoundSigmoid``):

- Intervals: [f(l), f(u)] (monotone).
- u ≤ 0 (convex): the secant is an upper line, any tangent at d ∈ [l, u] a lower line.
- l ≥ 0 (concave): the secant is a lower line, any tangent at d ∈ [l, u] an upper line.
- l < 0 < u: the secant is an upper line iff its slope k ≤ f'(u) (a lower line iff
  k ≤ f'(l)); otherwise the upper line is a tangent at d ∈ [d*, u], where the tangent at
  d* > 0 passes through (l, f(l)) (found by bisection, keeping the valid end), and the
  lower line symmetrically a tangent at d ∈ [l, d*'] with d*' < 0.
- Very narrow intervals (u − l < 1e-3, including l = u): the tangent at the midpoint m,
  shifted by ±max|f''|·(u − l)²/8 (Taylor's bound), so rounding never breaks soundness.

The tangent point is d = p + α(q − p) over the valid range [p, q]; CROWN takes α = 0.5 in
the convex and concave cases and the tightest-through-the-corner tangent (α = 0) in the
mixed case, and α-CROWN optimizes α ∈ [0, 1] per sample, margin and neuron. Only one of
the two lines is used per coefficient (by its sign), so one α serves both. These functions
are not piecewise linear: there is no MILP encoding, and :class:`~advkit.certify.MIP`
refuses such models.

Example:
    >>> import torch
    >>> from advkit.certify.ops import Sigmoid
    >>> lo, hi = Sigmoid().interval((torch.tensor([0.0]), torch.tensor([2.0])))
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.5, 0.8808)
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.certify.ops.base import BackStep, BackwardContext, Box, Expr, NpBox, Operator

if TYPE_CHECKING:
    from advkit.certify.milp import Program

__all__ = ["Lines", "SShaped", "Sigmoid", "Tanh"]

NARROW = 1e-3
"""Interval width below which the Taylor-bounded midpoint tangent is used."""

_BISECTION_STEPS = 40

Lines = tuple[Tensor, Tensor, Tensor, Tensor]
"""(lower slope, lower intercept, upper slope, upper intercept): s·h + b."""


class SShaped(Operator):
    """An increasing activation, convex below 0, concave above 0, symmetric about 0.

    Subclasses give the function, its derivative and ``curvature`` = max |f''|.
    """

    nonlinear: ClassVar[bool] = True
    curvature: ClassVar[float]

    @staticmethod
    @abstractmethod
    def f(h: Tensor) -> Tensor:
        """The activation."""

    @staticmethod
    @abstractmethod
    def df(h: Tensor) -> Tensor:
        """Its derivative."""

    def forward(self, *xs: Tensor) -> Tensor:
        """f(h)."""
        return self.f(xs[0])

    def interval(self, *boxes: Box) -> Box:
        """[f(l), f(u)] (monotone)."""
        lo, hi = boxes[0]
        return self.f(lo), self.f(hi)

    def _corner_tangent(self, lo: Tensor, hi: Tensor) -> Tensor:
        """For l < 0 < u: the smallest d ∈ [0, u] (up to bisection) whose tangent lies
        above (l, f(l)); the tangent at any d ∈ [that, u] is an upper line on [l, u]."""
        with torch.no_grad():
            left, right = torch.zeros_like(hi), hi.clone()
            f_lo = self.f(lo)
            for _ in range(_BISECTION_STEPS):
                mid = (left + right) / 2
                ok = self.f(mid) + self.df(mid) * (lo - mid) >= f_lo
                right = torch.where(ok, mid, right)
                left = torch.where(ok, left, mid)
        return right

    def _tangent(self, d: Tensor) -> tuple[Tensor, Tensor]:
        slope = self.df(d)
        return slope, self.f(d) - slope * d

    def relaxation(self, lo: Tensor, hi: Tensor, alpha: Tensor | None = None) -> Lines:
        """Lower and upper lines of f on [lo, hi]; ``alpha`` ∈ [0, 1] picks the tangent
        points (default: CROWN's, :meth:`lower_slopes`). Broadcasts ``lo, hi`` with it."""
        if alpha is None:
            alpha = self.default_alpha(lo, hi)
        alpha = alpha.clamp(0, 1)
        width = hi - lo
        narrow = width < NARROW
        safe = torch.where(narrow, torch.ones_like(width), width)
        f_lo, f_hi = self.f(lo), self.f(hi)
        k = (f_hi - f_lo) / safe
        chord = (k, f_lo - k * lo)
        mixed = (lo < 0) & (hi > 0)
        up_star = torch.where(mixed, self._corner_tangent(lo, hi), hi)
        low_star = torch.where(mixed, -self._corner_tangent(-hi, -lo), lo)
        # upper: a tangent over [l, u] (concave) or [d*, u] (mixed), else the chord
        up_p = torch.where(mixed, up_star, lo)
        up_tan = self._tangent(up_p + alpha * (hi - up_p))
        up_chord = (hi <= 0) | (mixed & (k <= self.df(hi)))
        # lower: a tangent over [l, u] (convex) or [d*', l] (mixed), else the chord
        low_p = torch.where(mixed, low_star, hi)
        low_tan = self._tangent(low_p + alpha * (lo - low_p))
        low_chord = (lo >= 0) | (mixed & (k <= self.df(lo)))
        # narrow: the midpoint tangent ± max|f''|·w²/8
        mid_s, mid_b = self._tangent((lo + hi) / 2)
        slack = self.curvature * width.clamp_min(0) ** 2 / 8
        lines = (
            torch.where(low_chord, chord[0], low_tan[0]),
            torch.where(low_chord, chord[1], low_tan[1]),
            torch.where(up_chord, chord[0], up_tan[0]),
            torch.where(up_chord, chord[1], up_tan[1]),
        )
        narrow_lines = (mid_s, mid_b - slack, mid_s, mid_b + slack)
        return tuple(  # type: ignore[return-value]
            torch.where(narrow, a, b) for a, b in zip(narrow_lines, lines, strict=True)
        )

    @staticmethod
    def default_alpha(lo: Tensor, hi: Tensor) -> Tensor:
        """CROWN's tangent points: the midpoint (0.5) in the convex and concave cases, the
        tangent through the far corner (0) in the mixed case."""
        mixed = (lo < 0) & (hi > 0)
        return torch.where(mixed, torch.zeros_like(lo), torch.full_like(lo, 0.5))

    def backward(self, a: Tensor, ctx: BackwardContext) -> BackStep:
        """Lower line where a > 0, upper line where a < 0."""
        lo, hi = ctx.require_bounds(self.describes)
        n, k = a.shape[:2]
        alpha = ctx.slopes
        if alpha is None:
            alpha = self.default_alpha(lo, hi)[:, None]
        low_s, low_b, up_s, up_b = self.relaxation(lo[:, None], hi[:, None], alpha)
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        const = (pos * low_b + neg * up_b).reshape(n, k, -1).sum(-1)
        return BackStep(const, (pos * low_s + neg * up_s,))

    def refine(self, box: Box) -> Tensor | None:
        """Every neuron with l < u: each relaxation depends on its bounds."""
        lo, hi = box
        return hi > lo

    def lower_slopes(self, box: Box) -> Tensor | None:
        """CROWN's tangent-point parameters, the starting point of α-CROWN."""
        return self.default_alpha(*box)

    def milp(self, program: Program, args: list[Expr], bounds: NpBox | None) -> Expr:
        """Refused: a MILP encodes piecewise-linear networks exactly, and f is not one."""
        raise TypeError(
            f"MIP cannot encode {self.describes}: it is not piecewise linear, so no exact "
            "MILP exists; certify this model with CROWN or AlphaCROWN"
        )


class Sigmoid(SShaped):
    """sigmoid(h) = 1 / (1 + e^−h), elementwise."""

    kind: ClassVar[str] = "sigmoid"
    curvature: ClassVar[float] = 0.1  # max |σ''| = 0.0962
    modules: ClassVar[tuple[type[nn.Module], ...]] = (nn.Sigmoid,)
    functions: ClassVar[tuple[object, ...]] = (torch.sigmoid, F.sigmoid)
    methods: ClassVar[tuple[str, ...]] = ("sigmoid", "sigmoid_")
    describes: ClassVar[str] = "Sigmoid"

    @staticmethod
    def f(h: Tensor) -> Tensor:
        """sigmoid(h)."""
        return torch.sigmoid(h)

    @staticmethod
    def df(h: Tensor) -> Tensor:
        """σ(h)·σ(−h) = σ(h)(1 − σ(h)), without the cancellation of 1 − σ(h) for large h
        (in float32 it cost the far end of a wide interval's tangent ~1e-5)."""
        return torch.sigmoid(h) * torch.sigmoid(-h)


class Tanh(SShaped):
    """tanh(h), elementwise."""

    kind: ClassVar[str] = "tanh"
    curvature: ClassVar[float] = 0.77  # max |tanh''| = 4/(3√3) ≈ 0.7698
    modules: ClassVar[tuple[type[nn.Module], ...]] = (nn.Tanh,)
    functions: ClassVar[tuple[object, ...]] = (torch.tanh, F.tanh)
    methods: ClassVar[tuple[str, ...]] = ("tanh", "tanh_")
    describes: ClassVar[str] = "Tanh"

    @staticmethod
    def f(h: Tensor) -> Tensor:
        """tanh(h)."""
        return torch.tanh(h)

    @staticmethod
    def df(h: Tensor) -> Tensor:
        """1 − tanh(h)² = 1 / cosh(h)², without the cancellation for large |h|."""
        return torch.cosh(h).pow(-2)
