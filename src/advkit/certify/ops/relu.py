"""ReLU: the triangle relaxation (CROWN, α-CROWN slopes) and the big-M MILP encoding.

- Intervals: [relu(l), relu(u)] (monotone).
- Backward (Zhang et al. 2018, "Efficient neural network robustness certification with
  general activation functions"): on an unstable neuron (l < 0 < u) relu(h) ≤ s·h + t with
  s = u / (u − l), t = −s·l, and relu(h) ≥ a·h for any a ∈ [0, 1]; CROWN takes a = 1 if
  u > −l else 0, α-CROWN optimizes a (Xu et al. 2021). Stable neurons are exact.
- MILP (Tjeng, Xiao & Tedrake 2019): an unstable neuron gets z ∈ [0, u] and a binary a with
  z ≥ h, z ≤ u·a, z ≤ h − l(1 − a); inactive neurons are 0, active ones are h.

Example:
    >>> import torch
    >>> from advkit.certify.ops import ReLU
    >>> s, t, a, unstable = ReLU.relaxation(torch.tensor([-1.0]), torch.tensor([3.0]))
    >>> s, t, a
    (tensor([0.7500]), tensor([0.7500]), tensor([1.]))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.certify.milp import pad
from advkit.certify.ops.base import BackStep, BackwardContext, Box, Expr, NpBox, Operator

if TYPE_CHECKING:
    from advkit.certify.milp import Program

__all__ = ["ReLU"]


class ReLU(Operator):
    """relu(h) = max(h, 0), elementwise."""

    kind: ClassVar[str] = "relu"
    nonlinear: ClassVar[bool] = True
    modules: ClassVar[tuple[type[nn.Module], ...]] = (nn.ReLU,)
    functions: ClassVar[tuple[object, ...]] = (torch.relu, F.relu)
    methods: ClassVar[tuple[str, ...]] = ("relu", "relu_")
    describes: ClassVar[str] = "ReLU"

    @staticmethod
    def relaxation(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Linear bounds of relu(h) for h ∈ [lo, hi].

        Returns:
            ``(upper_slope, upper_intercept, lower_slope, unstable)``: relu(h) ≤ s·h + t
            and relu(h) ≥ a·h, with CROWN's adaptive lower slope on unstable neurons.
        """
        unstable = (lo < 0) & (hi > 0)
        active = lo >= 0
        denom = torch.where(unstable, hi - lo, torch.ones_like(hi))
        s = torch.where(unstable, hi / denom, active.to(hi.dtype))
        t = torch.where(unstable, -s * lo, torch.zeros_like(lo))
        a = torch.where(unstable, (hi > -lo).to(hi.dtype), active.to(hi.dtype))
        return s, t, a, unstable

    def forward(self, *xs: Tensor) -> Tensor:
        """max(h, 0)."""
        return xs[0].clamp_min(0)

    def interval(self, *boxes: Box) -> Box:
        """[relu(l), relu(u)]."""
        lo, hi = boxes[0]
        return lo.clamp_min(0), hi.clamp_min(0)

    def backward(self, a: Tensor, ctx: BackwardContext) -> BackStep:
        """Upper line where a < 0, lower line a·h (or the α-CROWN slope) where a > 0."""
        lo, hi = ctx.require_bounds("ReLU")
        n, k = a.shape[:2]
        s, t, low, unstable = self.relaxation(lo[:, None], hi[:, None])
        if ctx.slopes is not None:
            low = torch.where(unstable, ctx.slopes.clamp(0, 1), low)
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        return BackStep((neg * t).reshape(n, k, -1).sum(-1), (pos * low + neg * s,))

    def refine(self, box: Box) -> Tensor | None:
        """The unstable neurons (l < 0 < u): only their relaxation depends on the bounds."""
        lo, hi = box
        return (lo < 0) & (hi > 0)

    def lower_slopes(self, box: Box) -> Tensor | None:
        """CROWN's lower slopes, the starting point of α-CROWN."""
        return self.relaxation(*box)[2]

    def milp(self, program: Program, args: list[Expr], bounds: NpBox | None) -> Expr:
        """Big-M rows for each unstable neuron; stable neurons are 0 or h."""
        if bounds is None:
            raise ValueError("the MILP encoding of a ReLU needs bounds of its input")
        m, c = args[0]
        lo, hi = bounds
        new_m, new_c = np.zeros_like(m), np.zeros_like(c)
        active = lo >= 0
        new_m[active], new_c[active] = m[active], c[active]
        unstable = np.nonzero((lo < 0) & (hi > 0))[0]
        base = program.add_variables(
            [0.0, 0.0] * unstable.size,
            [v for q in unstable for v in (float(hi[q]), 1.0)],
            [0, 1] * unstable.size,
        )
        new_m = pad(new_m, program.nv)
        for r, q in enumerate(unstable):
            zi, ai = base + 2 * r, base + 2 * r + 1
            h = pad(m[q : q + 1], program.nv)[0]
            row = h.copy()  # h − z ≤ −c
            row[zi] -= 1
            program.add_row(row, -np.inf, float(-c[q]))
            row = np.zeros(program.nv)  # z − u·a ≤ 0
            row[zi], row[ai] = 1.0, -hi[q]
            program.add_row(row, -np.inf, 0.0)
            row = -h.copy()  # z − h − l·a ≤ c − l
            row[zi], row[ai] = 1.0, -lo[q]
            program.add_row(row, -np.inf, float(c[q] - lo[q]))
            new_m[q] = 0
            new_m[q, zi] = 1.0
        return new_m, new_c
