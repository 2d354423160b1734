"""What an attack returns: its adversarial points and, where it has them, their logits.

:func:`advkit.attack` re-checks every result on the model. Where the attack already
evaluated a returned point with the plain model (no view: no EOT, BPDA or guard), the
logits it recorded for that exact point are that re-check, and evaluating the point again
would repeat the same computation; the caller evaluates again every row it cannot vouch
for.

Example:
    >>> import torch
    >>> from advkit.engine import Outcome
    >>> Outcome(torch.zeros(2, 3)).logits is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["Outcome"]


@dataclass(frozen=True)
class Outcome:
    """An attack's adversarial points, with the plain model's logits where known.

    Attributes:
        x: the adversarial points (N, ...), before the caller's projection.
        logits: (N, K) the plain model's logits at ``x`` on the rows ``known`` (None when
            the attack knows none).
        known: (N,) bool, the rows whose ``logits`` are those of ``x`` (None with no
            logits).
    """

    x: Tensor
    logits: Tensor | None = None
    known: Tensor | None = None
