"""Choosing target labels for targeted attacks.

Targets: a given label (just pass a tensor), a random incorrect label, the least-likely
label, the top-k most likely incorrect labels, and all other classes (for best / average /
worst-case reports).

Example:
    >>> import torch
    >>> from advkit.targets import least_likely
    >>> least_likely(torch.tensor([[3.0, 1.0, 2.0]]))
    tensor([1])
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["all_others", "least_likely", "random_targets", "top_others"]


def random_targets(y: Tensor, num_classes: int, generators: list[torch.Generator]) -> Tensor:
    """A uniformly random label different from ``y`` for each sample (one generator each)."""
    if num_classes < 2:
        raise ValueError("random targets need at least 2 classes")
    shift = torch.stack(
        [torch.randint(1, num_classes, (1,), generator=g, device=g.device)[0] for g in generators]
    ).to(y.device)
    return (y + shift) % num_classes


def least_likely(logits: Tensor) -> Tensor:
    """The label with the lowest logit for each sample."""
    return logits.argmin(dim=1)


def top_others(logits: Tensor, y: Tensor, k: int) -> Tensor:
    """The k highest-scoring labels other than ``y``, shape (N, k), most likely first."""
    if not 1 <= k < logits.shape[1]:
        raise ValueError(f"k must be in [1, {logits.shape[1] - 1}], got {k}")
    masked = logits.detach().scatter(1, y[:, None], float("-inf"))
    return masked.topk(k, dim=1).indices


def all_others(y: Tensor, num_classes: int) -> Tensor:
    """Every label other than ``y``, shape (N, num_classes − 1), in increasing order."""
    labels = torch.arange(num_classes, device=y.device).expand(y.shape[0], -1)
    keep = labels != y[:, None]
    return labels[keep].reshape(y.shape[0], num_classes - 1)
