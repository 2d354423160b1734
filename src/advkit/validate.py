"""Input checks shared by every entry point: bad input gets a clear error, never a silent
wrong answer.

Example:
    >>> import torch
    >>> from advkit.validate import check_batch
    >>> check_batch(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["check_batch", "check_labels", "check_model_accepts"]


def _tensor(name: str, v: Any) -> Tensor:
    if not isinstance(v, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(v).__name__}; "
            f"convert with torch.as_tensor({name})"
        )
    return v


def check_batch(x: Any, y: Any, target: Any = None, *, lo: float = 0.0, hi: float = 1.0) -> None:
    """Check inputs (N, ...) in the box [lo, hi] and integer labels (N,)."""
    x = _tensor("x", x)
    y = _tensor("y", y)
    if not x.is_floating_point():
        raise TypeError(
            f"x has dtype {x.dtype}; advkit needs floating-point inputs in [{lo}, {hi}] "
            "(for 8-bit images use x.float() / 255)"
        )
    if x.dim() < 2:
        raise ValueError(
            f"x must have a batch dimension, shape (N, ...) such as (N, C, H, W); got "
            f"shape {tuple(x.shape)} (for a single input use x[None])"
        )
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch")
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1).nonzero()[:, 0]
        raise ValueError(
            f"x contains NaN or inf values (samples {bad[:5].tolist()}"
            f"{', ...' if len(bad) > 5 else ''}); fix the data loading or preprocessing, "
            "or drop those samples"
        )
    xmin, xmax = float(x.min()), float(x.max())
    if xmin < lo - 1e-6 or xmax > hi + 1e-6:
        raise ValueError(
            f"x has values in [{xmin:.4g}, {xmax:.4g}] outside the input box [{lo}, {hi}]: "
            "scale images to [0, 1] (divide 8-bit images by 255; put normalization inside "
            "the model as its first layer), or set the threat model's lo/hi"
        )
    for name, lab in (("y", y), ("target", target)):
        if lab is None:
            continue
        lab = _tensor(name, lab)
        if lab.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(
                f"{name} must hold integer class labels, got dtype {lab.dtype}; use {name}.long()"
            )
        if lab.shape != (x.shape[0],):
            hint = (
                "; if x is a single input, add the batch dimension with x[None]"
                if lab.numel() == 1
                else ""
            )
            raise ValueError(
                f"{name} must have shape ({x.shape[0]},) to match x, got {tuple(lab.shape)}" + hint
            )


def check_labels(y: Tensor, num_classes: int, name: str = "y") -> None:
    """Labels must lie in [0, num_classes)."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"{name} has labels in [{int(y.min())}, {int(y.max())}] but the model has "
            f"{num_classes} classes (labels must be in [0, {num_classes - 1}])"
        )


@torch.no_grad()
def check_model_accepts(model: nn.Module, x: Tensor) -> int:
    """Run the model on one input; return the number of classes, or explain the failure."""
    try:
        out = model(x[:1])
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(
            f"the model cannot process inputs of shape {tuple(x.shape[1:])} (per sample): "
            f"{err}. Check the rank and channel count, e.g. (N, 1, 28, 28) for MNIST"
        ) from err
    if not isinstance(out, Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"the model must return logits of shape (N, num_classes), got {shape}")
    return int(out.shape[1])
