"""An input set that is an arbitrary box ``lower ≤ x ≤ upper`` (a VNN-LIB input region).

Problem solved: the certifiers bound networks over an :class:`~advkit.certify.input_set.
InputSet`, built from a threat model around clean inputs; a verification property gives a
box with its own bounds per coordinate instead. :class:`BoxSet` is that box as an input
set: its center plays x0, and the worst case of a linear function is the box's exact one.

Example:
    >>> import torch
    >>> from advkit.certify.box_set import BoxSet
    >>> box = BoxSet(torch.tensor([[0.0, -1.0]]), torch.tensor([[1.0, 1.0]]))
    >>> box.minimum(torch.tensor([[[1.0, 2.0]]]), torch.zeros(1, 1))
    tensor([[-2.]])
"""

from __future__ import annotations

from torch import Tensor

from advkit.certify.input_set import InputSet, box_minimum
from advkit.threat import Linf

__all__ = ["BoxSet"]


class BoxSet(InputSet):
    """The box [lower, upper] of a batch (N, ...), as an input set.

    Args:
        lower: lower corners (N, ...).
        upper: upper corners (N, ...), ≥ ``lower``.

    Raises:
        ValueError: the shapes differ or some lower bound exceeds its upper bound.
    """

    def __init__(self, lower: Tensor, upper: Tensor) -> None:
        if lower.shape != upper.shape or bool((lower > upper).any()):
            raise ValueError("a box needs lower and upper corners of one shape, lower <= upper")
        lo, hi = float(lower.min()), float(upper.max())
        half = (upper - lower) / 2
        self.threat = Linf(float(half.max()), lo, hi if hi > lo else lo + 1.0)
        self.x0 = lower + half
        self.lower, self.upper = lower, upper

    def select(self, rows: Tensor) -> InputSet:
        """The boxes of the samples ``rows``."""
        return BoxSet(self.lower[rows], self.upper[rows])

    def minimum(self, a: Tensor, c: Tensor) -> Tensor:
        """min over the box of ⟨a_k, x⟩ + c_k, (N, K), for a (N, K, ...)."""
        return box_minimum(a, self.lower, self.upper) + c
