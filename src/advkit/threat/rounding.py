"""Rounding toward a center: casting a perturbed point to a narrower dtype without moving it
away from the clean point in any coordinate.

Rounding to the nearest ``bfloat16`` can move a coordinate 2⁻⁹ outward, which takes a point
of an ε-ball out of it; rounding each coordinate toward x0 instead never increases ``|x − x0|``
in any coordinate, so every ℓp norm of the perturbation can only shrink.

Example:
    >>> import torch
    >>> x0 = torch.zeros(1, 1)
    >>> v = torch.tensor([[0.1]])  # between two bfloat16 values, nearest to the upper one
    >>> v.to(torch.bfloat16).item(), round_toward(v, x0, torch.bfloat16).item()
    (0.10009765625, 0.099609375)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["round_toward"]


def round_toward(v: Tensor, x0: Tensor, dtype: torch.dtype) -> Tensor:
    """``v`` rounded to ``dtype``: the nearest value that is not farther from ``x0`` than
    ``v``, coordinate by coordinate (``x0`` must be exactly representable in ``dtype``).

    Args:
        v: the points, in a wider floating dtype.
        x0: the centers, same shape and dtype as ``v``.
        dtype: the narrower dtype.

    Returns:
        A ``dtype`` tensor with ``|out − x0| ≤ |v − x0|`` in every coordinate.
    """
    near = v.to(dtype)
    outward = (near.to(v.dtype) - x0).abs() > (v - x0).abs()
    return torch.where(outward, torch.nextafter(near, x0.to(dtype)), near)
