"""Per-channel scale and shift y = s·x + t: advkit's ``Normalize`` and ``BatchNorm`` in eval
mode (running statistics folded into s and t).

Example:
    >>> import torch
    >>> from advkit.certify.graph import trace
    >>> from advkit.models.normalize import Normalize
    >>> op = trace(torch.nn.Sequential(Normalize(0.5, 0.25)), torch.zeros(1, 1, 2)).nodes[1].op
    >>> op.interval((torch.zeros(1, 1, 2), torch.ones(1, 1, 2)))
    (tensor([[[-2., -2.]]]), tensor([[[2., 2.]]]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advkit.certify.ops.affine import AffineOp
from advkit.certify.ops.base import Call
from advkit.models.normalize import Normalize

__all__ = ["BatchNorm", "Normalization", "ScaleShift"]


def _channel_shape(in_shape: tuple[int, ...]) -> tuple[int, ...]:
    return (-1,) + (1,) * (len(in_shape) - 1)


@dataclass(frozen=True, eq=False)
class ScaleShift(AffineOp):
    """y = scale·x + shift, broadcast over each channel.

    Attributes:
        scale: (C, 1, ...) factors; shift: (C, 1, ...) offsets.
    """

    scale: Tensor
    shift: Tensor

    def forward(self, *xs: Tensor) -> Tensor:
        """scale·x + shift."""
        return xs[0] * self.scale + self.shift

    def forward_abs(self, x: Tensor) -> Tensor:
        """|scale|·x."""
        return x * self.scale.abs()

    def transpose(self, a: Tensor) -> Tensor:
        """scale·a (the map is diagonal)."""
        return a * self.scale


class Normalization(ScaleShift):
    """advkit's ``Normalize``: (x − mean) / std (constants, no gradient)."""

    modules = (Normalize,)
    describes = "Normalize"

    @classmethod
    def build(cls, call: Call, out_shape: tuple[int, ...]) -> AffineOp:
        """From a ``Normalize``."""
        m = call.module
        assert isinstance(m, Normalize)
        shape = _channel_shape(call.in_shape)
        std = m.std.detach().reshape(shape)
        shift = -m.mean.detach().reshape(shape) / std
        return cls(call.in_shape, call.in_shape, std.device, 1.0 / std, shift)


class BatchNorm(ScaleShift):
    """Batch normalization in eval mode: γ (x − μ) / √(σ² + ε) + β, differentiable in γ, β."""

    modules = (nn.modules.batchnorm._BatchNorm,)
    describes = "BatchNorm (eval)"

    @classmethod
    def build(cls, call: Call, out_shape: tuple[int, ...]) -> AffineOp:
        """From a ``BatchNorm*d`` in eval mode with running statistics."""
        m = call.module
        assert isinstance(m, nn.modules.batchnorm._BatchNorm)
        if m.training or m.running_mean is None or m.running_var is None:
            raise TypeError(f"{call.name}: BatchNorm must be in eval mode with running statistics")
        scale = 1.0 / torch.sqrt(m.running_var.detach() + m.eps)
        if m.weight is not None:
            scale = scale * m.weight
        shift = -m.running_mean.detach() * scale
        if m.bias is not None:
            shift = shift + m.bias
        shape = _channel_shape(call.in_shape)
        return cls(
            call.in_shape, call.in_shape, scale.device, scale.reshape(shape), shift.reshape(shape)
        )
