"""Reshapes as an affine operator: ``Flatten``, ``Unflatten``, ``Identity``, ``Dropout``
(eval), ``torch.flatten``/``torch.reshape`` and ``Tensor.flatten``/``view``/``reshape``.

Example:
    >>> import torch
    >>> from advkit.certify.ops import Reshape
    >>> op = Reshape((2, 2), (4,), torch.device("cpu"))
    >>> op.transpose(torch.arange(4.0)[None]).shape
    torch.Size([1, 2, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advkit.certify.ops.affine import AffineOp
from advkit.certify.ops.base import Call, Operator

__all__ = ["Reshape"]


@dataclass(frozen=True, eq=False)
class Reshape(AffineOp):
    """A per-sample reshape from ``in_shape`` to ``out_shape`` (J is the identity)."""

    modules = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout)
    functions = (torch.flatten, torch.reshape)
    methods = ("flatten", "view", "reshape")
    describes = "Flatten/reshape/view, Identity, Dropout (eval)"

    @classmethod
    def lower(cls, call: Call) -> Operator:
        """From a module, or from a function/method call that keeps the batch dimension."""
        if call.module is not None:
            return super().lower(call)
        v = call.evaluate()
        if v.shape[0] != 1 or math.prod(v.shape) != call.args[0].numel():
            raise TypeError(f"{call.name}: a reshape must keep the batch dimension")
        return cls.build(call, tuple(v.shape[1:]))

    def forward(self, *xs: Tensor) -> Tensor:
        """x reshaped per sample."""
        return xs[0].reshape(xs[0].shape[0], *self.out_shape)

    def forward_abs(self, x: Tensor) -> Tensor:
        """x reshaped per sample (|J| = J, an identity up to shape)."""
        return x.reshape(x.shape[0], *self.out_shape)

    def transpose(self, a: Tensor) -> Tensor:
        """a reshaped back to the input shape."""
        return a.reshape(a.shape[0], *self.in_shape)
