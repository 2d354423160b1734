"""The precision certificates are computed in: the model's dtype, at least float32.

A float64 model is bounded in float64 and a float32 one in float32. Bounds computed in
half precision would be too loose (or, rounded to nearest, unsound) to certify anything,
so a ``float16``/``bfloat16`` model is bounded through a float32 copy of itself: the same
weights, exactly, in float32 arithmetic. Its decisions (clean predictions, counterexamples)
are still those of the model itself, on inputs cast to its dtype.

Example:
    >>> import torch
    >>> from advkit.certify.precision import bounding_copy, bounds_dtype
    >>> model = torch.nn.Linear(4, 3).to(torch.bfloat16)
    >>> dtype = bounds_dtype(model, torch.rand(2, 4))
    >>> dtype, next(bounding_copy(model, dtype).parameters()).dtype
    (torch.float32, torch.float32)
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import Tensor, nn

from advkit.access.precision import model_dtype, working_dtype

__all__ = ["bounding_copy", "bounds_dtype"]

logger = logging.getLogger(__name__)


def bounds_dtype(model: nn.Module, x: Tensor) -> torch.dtype:
    """The dtype bounds on ``model`` are computed in: the model's (x's for a model without
    floating-point parameters or buffers), at least float32."""
    return working_dtype(model_dtype(model) or x.dtype)


def bounding_copy(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``model`` itself when its parameters are of ``dtype`` (or it has none), else a copy
    of it converted to ``dtype`` (the caller's model is never modified)."""
    own = model_dtype(model)
    if own is None or own == dtype:
        return model
    if own.itemsize < dtype.itemsize:
        logger.warning(
            "certifying a %s model through a %s copy of its weights: the certificates hold "
            "for that computation, not for the model's own %s rounding; treat margins near "
            "zero with caution, or certify the model in float32",
            own,
            dtype,
            own,
        )
    return copy.deepcopy(model).to(dtype)
