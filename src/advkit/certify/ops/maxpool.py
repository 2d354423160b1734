"""2-D max pooling with DeepPoly's relaxation.

Given input bounds [l, u], y = max_{i ∈ W} x_i is relaxed as in DeepPoly (Singh et al.
2019, "An abstract domain for certifying neural networks"): the lower bound y ≥ x_{i*}
with i* the window's largest lower bound; the upper bound y = x_{i*} when i* dominates
(l_{i*} ≥ u_j for every other j in the window, then the max is exact), else the constant
y ≤ max_i u_i. Intervals pass through max pooling exactly (it is monotone). There is no
MILP encoding: :class:`~advkit.certify.MIP` refuses such models.

Example:
    >>> import torch
    >>> from advkit.certify.ops import MaxPool
    >>> pool = MaxPool((2, 2), (2, 2), (0, 0), (1, 2, 2))
    >>> pool.forward(torch.arange(4.0).reshape(1, 1, 2, 2))
    tensor([[[[3.]]]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.certify.ops.base import BackStep, BackwardContext, Box, Call, Expr, NpBox, Operator

if TYPE_CHECKING:
    from advkit.certify.milp import Program

__all__ = ["MaxPool"]


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


@dataclass(frozen=True)
class MaxPool(Operator):
    """2-D max pooling over (kernel, stride, padding) windows, padding with −∞.

    Attributes:
        kernel, stride, padding: (height, width) pairs.
        in_shape: per-sample input shape (C, H, W).
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    in_shape: tuple[int, ...]

    kind = "maxpool"
    nonlinear = True
    modules = (nn.MaxPool2d,)
    functions = (F.max_pool2d, torch.max_pool2d)
    describes = "MaxPool2d"

    @classmethod
    def lower(cls, call: Call) -> Operator:
        """From ``nn.MaxPool2d`` or ``F.max_pool2d``: no dilation, ceil mode or indices."""
        m = call.module
        if m is None:
            try:
                m = nn.MaxPool2d(*call.params, **call.kwargs)  # type: ignore[arg-type]
            except TypeError as err:
                raise TypeError(f"{call.name}: unsupported max_pool2d arguments: {err}") from err
        assert isinstance(m, nn.MaxPool2d)
        if len(call.in_shape) != 3:
            raise TypeError(f"{call.name}: certifiers support MaxPool2d on (C, H, W) inputs only")
        if _pair(m.dilation) != (1, 1) or m.ceil_mode or m.return_indices:
            raise TypeError(
                f"{call.name}: certifiers support MaxPool2d without dilation, ceil_mode or indices"
            )
        stride = m.stride if m.stride is not None else m.kernel_size
        return cls(_pair(m.kernel_size), _pair(stride), _pair(m.padding), call.in_shape)

    def forward(self, *xs: Tensor) -> Tensor:
        """The pooled batch (M, C, H', W')."""
        return F.max_pool2d(xs[0], self.kernel, self.stride, self.padding)

    def windows(self, v: Tensor, fill: float) -> Tensor:
        """Each output's window of ``v`` (M, C, H, W) -> (M, C, kh·kw, H'·W')."""
        m, c, h, w = v.shape
        ph, pw = self.padding
        padded = F.pad(v.reshape(m * c, 1, h, w), (pw, pw, ph, ph), value=fill)
        cols = F.unfold(padded, self.kernel, stride=self.stride)
        return cols.reshape(m, c, cols.shape[1], cols.shape[2])

    def relaxation(self, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """DeepPoly's linear bounds for inputs in [lo, hi] (N, C, H, W).

        Returns:
            ``(index, dominated, upper)``, each (N, C, L) over the L pooled outputs: the
            flat H·W position i* of the window's largest lower bound (y ≥ x_{i*}); whether
            i* dominates the window (then y ≤ x_{i*} too); the constant upper bound max u.
        """
        n, c, h, w = lo.shape
        low = self.windows(lo, float("-inf"))
        high = self.windows(hi, float("-inf"))
        best = low.argmax(dim=2, keepdim=True)
        others = high.scatter(2, best, float("-inf")).amax(dim=2, keepdim=True)
        dominated = (low.gather(2, best) >= others).squeeze(2)
        where = torch.arange(h * w, dtype=lo.dtype, device=lo.device).reshape(1, 1, h, w)
        places = self.windows(where, -1.0).expand(n, c, -1, -1)
        index = places.gather(2, best).squeeze(2).long()
        return index, dominated, high.amax(dim=2)

    def interval(self, *boxes: Box) -> Box:
        """[pool(l), pool(u)] (exact: max pooling is monotone)."""
        lo, hi = boxes[0]
        return self.forward(lo), self.forward(hi)

    def backward(self, a: Tensor, ctx: BackwardContext) -> BackStep:
        """Coefficients go to each window's i*; negative ones use the constant max u
        unless i* dominates."""
        lo, hi = ctx.require_bounds("max pooling")
        n, k = a.shape[:2]
        index, dominated, upper = self.relaxation(lo, hi)
        c, hw = lo.shape[1], lo[0, 0].numel()
        af = a.reshape(n, k, c, -1)
        pos, neg = af.clamp_min(0), af.clamp_max(0)
        exact = dominated[:, None]
        const = torch.where(exact, torch.zeros_like(neg), neg * upper[:, None])
        to_x = pos + torch.where(exact, neg, torch.zeros_like(neg))
        back = torch.zeros(n, k, c, hw, dtype=a.dtype, device=a.device).scatter_add(
            3, index[:, None].expand(n, k, c, -1), to_x
        )
        return BackStep(const.reshape(n, k, -1).sum(-1), (back.reshape(n, k, *lo.shape[1:]),))

    def milp(self, program: Program, args: list[Expr], bounds: NpBox | None) -> Expr:
        """Refused: MIP encodes ReLU networks without max pooling."""
        raise TypeError(
            "MIP does not encode max pooling; certify this model with CROWN, AlphaCROWN or IBP"
        )
