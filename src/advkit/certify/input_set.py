"""The input set Δ(x0) = ball ∩ box of a batch, and the worst case of linear functions on it.

Example:
    >>> import torch, advkit
    >>> from advkit.certify.input_set import InputSet
    >>> inputs = InputSet(advkit.Linf(0.1), torch.full((1, 2), 0.5))
    >>> inputs.minimum(torch.tensor([[[1.0, -1.0]]]), torch.zeros(1, 1))
    tensor([[-0.2000]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from advkit.threat import Linf, ThreatModel

__all__ = ["InputSet", "box_minimum"]


def box_minimum(a: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """min over x ∈ [lower, upper] of ⟨a_k, x⟩, shape (N, K), for a (N, K, ...).

    Args:
        a: coefficients (N, K, *shape).
        lower: box lower corner (N, *shape).
        upper: box upper corner (N, *shape).
    """
    n, k = a.shape[:2]
    af = a.reshape(n, k, -1)
    lo, hi = lower.reshape(n, 1, -1), upper.reshape(n, 1, -1)
    return (af.clamp_min(0) * lo + af.clamp_max(0) * hi).sum(-1)


class InputSet:
    """Δ(x0) = ball ∩ box for a batch, with its worst case for linear functions.

    Args:
        threat: the threat model (its ε may be per sample).
        x0: clean inputs (N, ...).
    """

    def __init__(self, threat: ThreatModel, x0: Tensor) -> None:
        self.threat, self.x0 = threat, x0
        eps = threat.radius(x0)
        # every coordinate moves by at most ε for any ℓp ball, so this box contains Δ(x0)
        self.lower = (x0 - eps).clamp(threat.lo, threat.hi)
        self.upper = (x0 + eps).clamp(threat.lo, threat.hi)

    def select(self, rows: Tensor) -> InputSet:
        """The input set of the samples ``rows``."""
        return InputSet(self.threat.select(rows), self.x0[rows])

    def minimum(self, a: Tensor, c: Tensor) -> Tensor:
        """A lower bound of min_{x ∈ Δ(x0)} ⟨a_k, x⟩ + c_k, shape (N, K), for a (N, K, ...).

        Exact for L∞ (the set is a box); for L2/L1 the larger of the ball's value
        ⟨a, x0⟩ − ε‖a‖_* and the box's value (each is a valid bound).
        """
        box = box_minimum(a, self.lower, self.upper)
        if isinstance(self.threat, Linf):
            return box + c
        n, k = a.shape[:2]
        af = a.reshape(n, k, -1)
        ball = (af * self.x0.reshape(n, 1, -1)).sum(-1) - self.threat.support(af, batch_dims=2)
        return torch.maximum(box, ball) + c
