"""Addition of two branches (residual connections): exact in every domain.

Example:
    >>> import torch
    >>> from advkit.certify.ops import Add
    >>> Add().interval((torch.zeros(1), torch.ones(1)), (torch.ones(1), torch.ones(1)))
    (tensor([1.]), tensor([2.]))
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from advkit.certify.milp import pad
from advkit.certify.ops.base import BackStep, BackwardContext, Box, Call, Expr, NpBox, Operator

if TYPE_CHECKING:
    from advkit.certify.milp import Program

__all__ = ["Add"]


class Add(Operator):
    """y = a + b for two nodes of equal shape (``+``, ``torch.add``, ``Tensor.add``)."""

    kind: ClassVar[str] = "add"
    arity: ClassVar[int] = 2
    per_sample: ClassVar[bool] = False
    functions: ClassVar[tuple[object, ...]] = (operator.add, torch.add)
    methods: ClassVar[tuple[str, ...]] = ("add",)
    describes: ClassVar[str] = "the addition of two branches"

    @classmethod
    def lower(cls, call: Call) -> Operator:
        """Refuses broadcasting and ``alpha``/``out`` keywords."""
        a, b = call.args
        if a.shape != b.shape or call.kwargs:
            raise TypeError(f"{call.name}: certifiers support addition of equal shapes only")
        return cls()

    def forward(self, *xs: Tensor) -> Tensor:
        """a + b."""
        return xs[0] + xs[1]

    def interval(self, *boxes: Box) -> Box:
        """[la + lb, ha + hb]."""
        (la, ha), (lb, hb) = boxes
        return la + lb, ha + hb

    def backward(self, a: Tensor, ctx: BackwardContext) -> BackStep:
        """Both branches receive the coefficients."""
        return BackStep(None, (a, a))

    def milp(self, program: Program, args: list[Expr], bounds: NpBox | None) -> Expr:
        """The sum of the two expressions (padded to the same variables)."""
        (ma, ca), (mb, cb) = args
        width = max(ma.shape[1], mb.shape[1])
        return pad(ma, width) + pad(mb, width), ca + cb
