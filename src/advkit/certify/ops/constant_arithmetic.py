"""Arithmetic with constants as an affine operator: the ``AddConstant``, ``SubtractFrom``,
``MulConstant`` and ``DivConstant`` layers advkit's ONNX converter builds for ONNX
``Add``/``Sub``/``Mul``/``Div`` by a constant (input normalization, output scaling).

Each layer is y = s·x + t elementwise, with s and t its constant broadcast to the input's
per-sample shape: x + c is (1, c), c − x is (−1, c), x·c is (c, 0) and x / c is (1/c, 0).
A constant that would enlarge the input's shape by broadcasting is refused.

Example:
    >>> import torch
    >>> from advkit.certify.graph import trace
    >>> from advkit.models.layers import DivConstant
    >>> net = torch.nn.Sequential(DivConstant(torch.tensor([2.0, -4.0])))
    >>> op = trace(net, torch.zeros(1, 2)).nodes[1].op
    >>> op.interval((torch.zeros(1, 2), torch.ones(1, 2)))
    (tensor([[ 0.0000, -0.2500]]), tensor([[0.5000, 0.0000]]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.certify.ops.affine import AffineOp
from advkit.certify.ops.base import Call
from advkit.certify.ops.scale_shift import ScaleShift
from advkit.models.layers import AddConstant, DivConstant, MulConstant, SubtractFrom

__all__ = ["ConstantArithmetic"]


def _scale_shift(module: object, c: Tensor) -> tuple[Tensor, Tensor]:
    """(s, t) of the layer ``module`` holding the constant ``c``."""
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    if isinstance(module, AddConstant):
        return one, c
    if isinstance(module, SubtractFrom):
        return -one, c
    if isinstance(module, MulConstant):
        return c, zero
    return 1.0 / c, zero


@dataclass(frozen=True, eq=False)
class ConstantArithmetic(ScaleShift):
    """x + c, c − x, x·c or x / c for a constant c broadcast over the sample."""

    modules = (AddConstant, SubtractFrom, MulConstant, DivConstant)
    describes = "Add/Sub/Mul/Div by a constant"

    @classmethod
    def build(cls, call: Call, out_shape: tuple[int, ...]) -> AffineOp:
        """From one of the constant-arithmetic layers of :mod:`advkit.models.layers`."""
        module = call.module
        assert isinstance(module, (AddConstant, SubtractFrom, MulConstant, DivConstant))
        if out_shape != call.in_shape:
            raise TypeError(
                f"{call.name}: its constant of shape {tuple(module.constant.shape)} broadcasts "
                f"a sample of shape {call.in_shape} to {out_shape}; certifiers need the "
                "constant to keep the sample's shape (export it with a matching shape)"
            )
        full = (1, *call.in_shape)
        c = torch.broadcast_to(module.constant.detach(), full)[0]
        scale, shift = _scale_shift(module, c.to(call.args[0].dtype))
        return cls(call.in_shape, call.in_shape, c.device, scale, shift)
