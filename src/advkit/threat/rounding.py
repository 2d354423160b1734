"""Rounding toward a center: casting a perturbed point to a narrower dtype without moving it
away from the clean point in any coordinate.

Rounding to the nearest ``bfloat16`` can move a coordinate 2⁻⁹ outward, which takes a point
of an ε-ball out of it; rounding each coordinate toward x0 instead never increases ``|x − x0|``
in any coordinate, so every ℓp norm of the perturbation can only shrink.

What rounding cannot avoid is bounded by :func:`rounding_slack`: a point projected in a
working precision (``x0 + δ`` rounded, norms summed in that precision) may measure, in
exact arithmetic, a few units of the last place above ε or outside the box; a re-check of
a returned point (``advkit verify``) allows that much and no more.

Example:
    >>> import torch
    >>> x0 = torch.zeros(1, 1)
    >>> v = torch.tensor([[0.1]])  # between two bfloat16 values, nearest to the upper one
    >>> v.to(torch.bfloat16).item(), round_toward(v, x0, torch.bfloat16).item()
    (0.10009765625, 0.099609375)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["round_toward", "rounding_slack"]


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


def rounding_slack(
    p: float, eps: float, features: int, scale: float, dtype: torch.dtype
) -> tuple[float, float]:
    """How far a point projected in ``dtype`` may measure outside the ball and the box.

    Each coordinate of ``x0 + δ`` is rounded by at most one unit of the last place of
    values up to ``scale`` (the largest ``|lo|``, ``|hi|``), and each term of the norm's
    sum by one unit of its size (at most ε); the ℓp norm gathers the errors of
    ``features`` coordinates as ``features^(1/p)``: ``unit · features^(1/p) · (ε +
    scale)``. ℓ0 counts changed coordinates, which rounding toward x0 never adds: its
    slack is 0.

    Args:
        p: the norm's order (``math.inf``, 2, 1 or 0).
        eps: the radius.
        features: the number of coordinates of one input.
        scale: the largest magnitude of the box's bounds (1 for [0, 1]).
        dtype: the precision the points were computed in (float32: 2⁻²³ per unit).

    Returns:
        ``(norm slack, box slack)``: a point is in the set when its norm, measured
        exactly, is at most ``eps + norm slack`` and its coordinates lie in
        ``[lo − box slack, hi + box slack]``.

    Example:
        >>> import math, torch
        >>> norm, box = rounding_slack(math.inf, 0.1, 64, 1.0, torch.float32)
        >>> 1e-7 < norm < 2e-7, box == torch.finfo(torch.float32).eps
        (True, True)
    """
    unit = torch.finfo(dtype).eps
    box = unit * max(scale, 1.0)
    if p == 0:
        return 0.0, box
    spread = 1.0 if math.isinf(p) else features ** (1.0 / p)
    return spread * unit * (eps + max(scale, 1.0)), box
