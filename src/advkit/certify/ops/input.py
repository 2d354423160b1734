"""The graph's input: the identity on the value fed in, the input set's worst case backward.

Example:
    >>> import torch
    >>> from advkit.certify.ops import Input
    >>> Input().forward(torch.ones(1, 2))
    tensor([[1., 1.]])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from advkit.certify.ops.base import BackStep, BackwardContext, Box, Expr, NpBox, Operator

if TYPE_CHECKING:
    from advkit.certify.milp import Program

__all__ = ["Input"]


class Input(Operator):
    """The input node: ``forward``, ``interval`` and ``milp`` return their argument (the
    batch, the input box, the input variables); ``backward`` is the closed-form minimum of
    the linear function over Δ(x0) (:meth:`~advkit.certify.input_set.InputSet.minimum`)."""

    kind: ClassVar[str] = "input"
    arity: ClassVar[int] = 0

    def forward(self, *xs: Tensor) -> Tensor:
        """The batch itself."""
        return xs[0]

    def interval(self, *boxes: Box) -> Box:
        """The input box itself."""
        return boxes[0]

    def backward(self, a: Tensor, ctx: BackwardContext) -> BackStep:
        """min over Δ(x0) of ⟨a, x⟩ as the constant; nothing is passed further."""
        zero = torch.zeros(a.shape[:2], dtype=a.dtype, device=a.device)
        return BackStep(ctx.inputs.minimum(a, zero), ())

    def milp(self, program: Program, args: list[Expr], bounds: NpBox | None) -> Expr:
        """The input variables themselves."""
        return args[0]
