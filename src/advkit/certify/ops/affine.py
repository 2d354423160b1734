"""Affine operators y = J x + b: the shared relaxation of every linear layer.

Problem solved: an affine map needs no relaxation, so intervals, backward steps and MILP
rows follow from three primitives every affine layer provides: x ↦ J x + b
(:meth:`AffineOp.forward`), x ↦ |J| x (:meth:`AffineOp.forward_abs`) and a ↦ Jᵀ a
(:meth:`AffineOp.transpose`). Intervals use the center/radius form of IBP
(Gowal et al. 2018): center through the map, radius through |J|.

The bias b = f(0) is computed from the map itself on first use, in the caller's autograd
mode, so bounds are differentiable in the layer's parameters (certified training).

Example:
    >>> import torch
    >>> from advkit.certify.ops import Linear
    >>> op = Linear((2,), (1,), torch.device("cpu"), torch.tensor([[1.0, -2.0]]), None)
    >>> op.interval((torch.zeros(1, 2), torch.ones(1, 2)))
    (tensor([[-2.]]), tensor([[1.]]))
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import Tensor

from advkit.certify.ops.base import BackStep, BackwardContext, Box, Call, Expr, NpBox, Operator

if TYPE_CHECKING:
    from advkit.certify.milp import Program

__all__ = ["AffineOp", "module_output_shape"]


def module_output_shape(call: Call) -> tuple[int, ...]:
    """Per-sample output shape of ``call.module`` on a zero input of the traced shape.

    Raises:
        TypeError: the module fails on that input (named with the error).
    """
    module = call.module
    try:
        example = call.args[0]
        zero = torch.zeros(1, *call.in_shape, device=example.device, dtype=example.dtype)
        out = module(zero)  # type: ignore[misc]
    except (RuntimeError, TypeError, ValueError) as err:
        raise TypeError(
            f"layer {call.name} ({type(module).__name__}) failed on a test input: {err}"
        ) from err
    return tuple(out.shape[1:])


@dataclass(frozen=True, eq=False)
class AffineOp(Operator):
    """A per-sample affine map y = J x + b between fixed shapes.

    Subclasses provide :meth:`forward`, :meth:`forward_abs` and :meth:`transpose` (and
    :meth:`build` when they hold more than the shapes); intervals, backward steps and MILP
    rows are derived here.

    Attributes:
        in_shape: per-sample input shape.
        out_shape: per-sample output shape.
        device: where the map's parameters live.
    """

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    device: torch.device

    kind: ClassVar[str] = "affine"
    per_sample: ClassVar[bool] = False

    @classmethod
    def lower(cls, call: Call) -> Operator:
        """Checks a module on a test input (a function on the example), then :meth:`build`."""
        if call.module is not None:
            return cls.build(call, module_output_shape(call))
        return cls.build(call, tuple(call.evaluate().shape[1:]))

    @classmethod
    def build(cls, call: Call, out_shape: tuple[int, ...]) -> AffineOp:
        """The operator of a traced call whose output shape is ``out_shape`` (default: one
        that holds only its shapes and device)."""
        return cls(call.in_shape, out_shape, call.args[0].device)

    @abstractmethod
    def forward(self, *xs: Tensor) -> Tensor:
        """J x + b on a batch (M, *in_shape) -> (M, *out_shape)."""

    @abstractmethod
    def forward_abs(self, x: Tensor) -> Tensor:
        """|J| x on a batch (no bias)."""

    @abstractmethod
    def transpose(self, a: Tensor) -> Tensor:
        """Jᵀ a on a batch (M, *out_shape) -> (M, *in_shape)."""

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the map computes in: its first floating-point tensor's (float32 for a
        map that holds none, such as a reshape)."""
        tensors = (getattr(self, f.name) for f in fields(self))
        floats = (t.dtype for t in tensors if isinstance(t, Tensor) and t.is_floating_point())
        return next(floats, torch.float32)

    @cached_property
    def bias(self) -> Tensor:
        """b = f(0), (*out_shape)."""
        zero = torch.zeros(1, *self.in_shape, device=self.device, dtype=self.dtype)
        return self.forward(zero)[0]

    @cached_property
    def dense(self) -> np.ndarray:
        """J as a float64 (out, in) matrix (for MILP rows)."""
        size = math.prod(self.out_shape)
        eye = torch.eye(size, dtype=self.dtype, device=self.device).reshape(size, *self.out_shape)
        rows = self.transpose(eye).reshape(size, -1)
        return rows.detach().cpu().double().numpy()

    def interval(self, *boxes: Box) -> Box:
        """Center through J x + b, radius through |J|."""
        lo, hi = boxes[0]
        mid = self.forward((hi + lo) / 2)
        rad = self.forward_abs((hi - lo) / 2)
        return mid - rad, mid + rad

    def backward(self, a: Tensor, ctx: BackwardContext) -> BackStep:
        """⟨a, J x + b⟩ = ⟨Jᵀ a, x⟩ + ⟨a, b⟩ exactly; a may be shared (M = 1)."""
        m, k = a.shape[:2]
        const = (a.reshape(m, k, -1) * self.bias.reshape(1, 1, -1)).sum(-1)
        back = self.transpose(a.reshape(m * k, *self.out_shape))
        return BackStep(const, (back.reshape(m, k, *back.shape[1:]),))

    def milp(self, program: Program, args: list[Expr], bounds: NpBox | None) -> Expr:
        """(J M, J c + b): no new variables."""
        m, c = args[0]
        j = self.dense
        return j @ m, j @ c + self.bias.detach().cpu().double().numpy().reshape(-1)
