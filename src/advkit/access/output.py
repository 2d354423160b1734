"""Checks on what a model returns: logits of shape (N, K), finite, not probabilities."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_logits", "looks_like_probabilities", "refuse_probabilities"]


def looks_like_probabilities(out: Tensor) -> bool:
    """True when every row of ``out`` lies in [0, 1] and sums to 1 (within 1e-3).

    Example:
        >>> import torch
        >>> looks_like_probabilities(torch.tensor([[0.25, 0.75]]))
        True
    """
    if out.shape[1] < 2:
        return False
    in_unit = bool(((out >= 0) & (out <= 1)).all())
    sums_to_one = bool(((out.sum(dim=1) - 1).abs() < 1e-3).all())
    return in_unit and sums_to_one


def check_logits(out: Tensor, n: int) -> None:
    """Raise ValueError unless ``out``, returned for a batch of ``n``, is finite (n, K)."""
    if out.dim() != 2 or out.shape[0] != n:
        raise ValueError(
            f"the model must return logits of shape (N, num_classes); for a batch of {n} "
            f"it returned shape {tuple(out.shape)}"
        )
    if not torch.isfinite(out).all():
        raise ValueError(
            "the model returned NaN or inf logits; check the input range and the model"
        )


def refuse_probabilities(out: Tensor) -> None:
    """Raise ValueError when the model's output ``out`` looks like probabilities."""
    if looks_like_probabilities(out.detach()):
        raise ValueError(
            "the model returns probabilities (rows in [0, 1] summing to 1) but advkit "
            "needs logits: remove the final softmax layer (gradients of probabilities "
            "vanish and make attacks look weaker than they are)"
        )
