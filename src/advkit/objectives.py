"""Per-sample objectives that attacks *maximize*, and the success criterion.

Every objective maps ``(logits, y, target)`` to a tensor of shape (N,). With
``target=None`` it is untargeted (push away from the true label ``y``); with a target
tensor it is targeted (pull towards ``target``). Losses are summed only to call autograd,
never to decide anything.

Success is decided separately by :func:`is_successful`: misclassification when
untargeted, hitting the target when targeted.

Example:
    >>> import torch
    >>> from advkit.objectives import CWMargin
    >>> logits = torch.tensor([[2.0, 1.0, 0.0]])
    >>> CWMargin()(logits, torch.tensor([0]))
    tensor([-1.])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DLR",
    "CWMargin",
    "CrossEntropy",
    "LogProbMargin",
    "Objective",
    "is_successful",
    "margin",
]


class Objective(Protocol):
    """A per-sample loss to maximize: ``(logits (N,K), y (N,), target (N,)|None) -> (N,)``."""

    @property
    def name(self) -> str: ...

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor: ...


def _other_max(z: Tensor, label: Tensor) -> Tensor:
    """max_{j ≠ label} z_j for each row."""
    masked = z.scatter(1, label[:, None], float("-inf"))
    return masked.max(dim=1).values


def _at(z: Tensor, label: Tensor) -> Tensor:
    return z.gather(1, label[:, None]).squeeze(1)


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """z_y − max_{j≠y} z_j: positive iff the sample is classified as ``y``."""
    return _at(logits, y) - _other_max(logits, y)


def is_successful(logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
    """The success criterion, shape (N,) bool.

    Untargeted: the predicted label differs from ``y``. Targeted: it equals ``target``.
    """
    pred = logits.argmax(dim=1)
    if target is None:
        return pred != y
    return pred == target


@dataclass(frozen=True)
class CrossEntropy:
    """Cross-entropy: CE(z, y) untargeted, −CE(z, t) targeted (Madry et al. 2018)."""

    name: str = "ce"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")


@dataclass(frozen=True)
class CWMargin:
    """Carlini & Wagner's logit margin with confidence κ (Carlini & Wagner 2017).

    Untargeted: ``min(max_{j≠y} z_j − z_y, κ)``; targeted: ``min(z_t − max_{j≠t} z_j, κ)``.
    Maximizing it is minimizing C&W's f; it saturates once the margin reaches κ.
    """

    kappa: float = 0.0
    name: str = "cw"

    def __post_init__(self) -> None:
        if self.kappa < 0:
            raise ValueError(f"confidence kappa must be >= 0, got {self.kappa}")

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        value = -margin(logits, y) if target is None else margin(logits, target)
        return value.clamp_max(self.kappa)


@dataclass(frozen=True)
class DLR:
    """Difference of Logits Ratio (Croce & Hein 2020), invariant to logit shift and scale.

    Untargeted: ``−(z_y − max_{j≠y} z_j) / (z_π1 − z_π3)``; targeted:
    ``−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)``, π sorting the logits in decreasing order.
    Needs at least 3 classes (4 for the targeted form).
    """

    name: str = "dlr"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        srt = logits.sort(dim=1, descending=True).values
        if target is None:
            if logits.shape[1] < 3:
                raise ValueError("the DLR loss needs at least 3 classes; use CrossEntropy")
            return -margin(logits, y) / (srt[:, 0] - srt[:, 2] + 1e-12)
        if logits.shape[1] < 4:
            raise ValueError("the targeted DLR loss needs at least 4 classes")
        num = _at(logits, y) - _at(logits, target)
        den = srt[:, 0] - 0.5 * (srt[:, 2] + srt[:, 3]) + 1e-12
        return -num / den


@dataclass(frozen=True)
class LogProbMargin:
    """ZOO's loss on log-probabilities (Chen et al. 2017), for score-only access.

    Untargeted: ``min(max_{i≠y} log F_i − log F_y, κ)``; targeted:
    ``min(log F_t − max_{i≠t} log F_i, κ)``. Accepts logits or log-probabilities (the
    log-softmax is applied, which is idempotent on log-probabilities).
    """

    kappa: float = 0.0
    name: str = "logprob"

    def __post_init__(self) -> None:
        if self.kappa < 0:
            raise ValueError(f"confidence kappa must be >= 0, got {self.kappa}")

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        logp = torch.log_softmax(logits, dim=1)
        value = -margin(logp, y) if target is None else margin(logp, target)
        return value.clamp_max(self.kappa)
