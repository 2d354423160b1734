"""``nn.AvgPool2d`` as an affine operator (its weights are positive, so |J| = J); Jᵀ is
taken by autograd.

Example:
    >>> import torch
    >>> from advkit.certify.graph import trace
    >>> op = trace(torch.nn.Sequential(torch.nn.AvgPool2d(2)), torch.zeros(1, 1, 2, 2)).nodes[1].op
    >>> op.transpose(torch.ones(1, 1, 1, 1))
    tensor([[[[0.2500, 0.2500],
              [0.2500, 0.2500]]]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advkit.certify.ops.affine import AffineOp
from advkit.certify.ops.base import Call

__all__ = ["AvgPool"]


@dataclass(frozen=True, eq=False)
class AvgPool(AffineOp):
    """2-D average pooling.

    Attributes:
        pool: the pooling module itself.
    """

    pool: nn.AvgPool2d

    modules = (nn.AvgPool2d,)
    describes = "AvgPool2d"

    @classmethod
    def build(cls, call: Call, out_shape: tuple[int, ...]) -> AffineOp:
        """From an ``nn.AvgPool2d``."""
        assert isinstance(call.module, nn.AvgPool2d)
        return cls(call.in_shape, out_shape, call.args[0].device, call.module)

    def forward(self, *xs: Tensor) -> Tensor:
        """The pooled batch."""
        return self.pool(xs[0])

    def forward_abs(self, x: Tensor) -> Tensor:
        """The pooled batch (the weights are positive)."""
        return self.pool(x)

    def transpose(self, a: Tensor) -> Tensor:
        """Jᵀ a by differentiating the pooling of a zero input."""
        with torch.enable_grad():
            z = torch.zeros(
                a.shape[0], *self.in_shape, dtype=a.dtype, device=a.device, requires_grad=True
            )
            (g,) = torch.autograd.grad(self.pool(z), z, a, create_graph=a.requires_grad)
        return g
