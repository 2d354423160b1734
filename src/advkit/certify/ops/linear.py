"""``nn.Linear`` as an affine operator.

Example:
    >>> import torch
    >>> from advkit.certify.ops import Linear
    >>> op = Linear((2,), (1,), torch.device("cpu"), torch.tensor([[1.0, -2.0]]), None)
    >>> op.transpose(torch.ones(1, 1))
    tensor([[ 1., -2.]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from advkit.certify.ops.affine import AffineOp
from advkit.certify.ops.base import Call

__all__ = ["Linear"]


@dataclass(frozen=True, eq=False)
class Linear(AffineOp):
    """y = W x + b, holding the layer's own parameters (not copies).

    Attributes:
        weight: W (out, in).
        offset: b (out,), or None.
    """

    weight: Tensor
    offset: Tensor | None

    modules = (nn.Linear,)
    describes = "Linear"

    @classmethod
    def build(cls, call: Call, out_shape: tuple[int, ...]) -> AffineOp:
        """From an ``nn.Linear``."""
        m = call.module
        assert isinstance(m, nn.Linear)
        return cls(call.in_shape, out_shape, call.args[0].device, m.weight, m.bias)

    def forward(self, *xs: Tensor) -> Tensor:
        """W x + b."""
        return F.linear(xs[0], self.weight, self.offset)

    def forward_abs(self, x: Tensor) -> Tensor:
        """|W| x."""
        return F.linear(x, self.weight.abs())

    def transpose(self, a: Tensor) -> Tensor:
        """Wᵀ a."""
        return a @ self.weight
