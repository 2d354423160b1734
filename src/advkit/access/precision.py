"""Precision: attacks work in float32 (float64 for float64 inputs) whatever the model's dtype.

A half-precision model (``float16``/``bfloat16``) is called on its inputs cast to its own
dtype, and its logits come back as float32: the attack's iterates, losses, projections and
distances keep full precision, and only the model's arithmetic is low precision.

Example:
    >>> import torch
    >>> from advkit.access.precision import call_model, model_dtype, working_dtype
    >>> model = torch.nn.Linear(4, 3).to(torch.bfloat16)
    >>> model_dtype(model), working_dtype(torch.bfloat16)
    (torch.bfloat16, torch.float32)
    >>> call_model(model, torch.rand(2, 4)).dtype
    torch.float32
"""

from __future__ import annotations

from itertools import chain

import torch
from torch import Tensor, nn

__all__ = [
    "PRECISIONS",
    "autocast_dtype",
    "call_model",
    "model_dtype",
    "model_input",
    "working_dtype",
]

PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
"""The precisions an attack may run the model's forward and backward in (``torch.autocast``
to the dtype; None: no autocast, the model's own precision)."""


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of ``precision`` (``"fp32"``, ``"bf16"`` or ``"fp16"``).

    Example:
        >>> autocast_dtype("bf16")
        torch.bfloat16

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)} (fp32: "
            "no autocast)"
        )
    return PRECISIONS[precision]


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter or buffer (None if none)."""
    tensors = chain(model.parameters(), model.buffers())
    return next((t.dtype for t in tensors if t.is_floating_point()), None)


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The precision computations on ``dtype`` tensors are done in: float32, or ``dtype``
    when it is wider (float64)."""
    return torch.promote_types(dtype, torch.float32)


def model_input(model: nn.Module, x: Tensor) -> Tensor:
    """``x`` as the model sees it: cast to the model's dtype (unchanged for a model with
    no floating-point parameter or buffer, or of x's dtype)."""
    dtype = model_dtype(model)
    return x if dtype is None else x.to(dtype)


def call_model(model: nn.Module, x: Tensor) -> Tensor:
    """The model's output at ``x`` (cast to the model's dtype), in at least float32.

    A non-tensor output is returned as it is (the callers' checks explain it).
    """
    out = model(model_input(model, x))
    if isinstance(out, Tensor) and out.is_floating_point():
        return out.to(working_dtype(out.dtype))
    return out
