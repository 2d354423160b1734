"""Counterexample search for branch and bound: PGD on the property's margin in a box.

Problem solved: a property "c_k·f(x) + d_k > 0 for every row k on the box" is false as
soon as one point of the box has a negative row, and such a point is usually found much
faster by an attack than by bounding. :func:`margin_pgd` minimizes the smallest row by
projected signed-gradient descent (Madry et al. 2018) from several starting points at
once; :func:`row_values` evaluates the rows exactly, which is how every candidate is
re-checked (a forward pass of the network itself) before it is reported.

Example:
    >>> import torch
    >>> net = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[1.0, 1.0]])), net.bias.fill_(-0.5)
    >>> lo, hi = torch.zeros(1, 2), torch.ones(1, 2)
    >>> x, v = margin_pgd(net, lo, hi, torch.ones(1, 1, 1), torch.zeros(1, 1),
    ...                   torch.full((1, 2), 0.5), steps=10)
    >>> float(v) < 0
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["Forward", "margin_pgd", "property_value", "row_values"]

Forward = Callable[[Tensor], Tensor]
"""The network's forward pass: inputs (R, *input shape) to outputs (R, *output shape)."""


def row_values(forward: Forward, x: Tensor, spec: Tensor, offset: Tensor) -> Tensor:
    """(R, K) the rows c_k·f(x) + d_k at the points ``x`` (R, *input shape).

    Args:
        forward: the network.
        x: the points.
        spec: (1, K, *output shape) coefficients.
        offset: (1, K) constants.
    """
    out = forward(x).to(spec.dtype)
    r = out.shape[0]
    return (spec.reshape(1, spec.shape[1], -1) * out.reshape(r, 1, -1)).sum(-1) + offset


def property_value(rows: Tensor, any_row: bool) -> Tensor:
    """(R,) the value whose sign decides the property at each point, from rows (R, K):
    the smallest row (every row must be positive), or with ``any_row`` the largest (one
    positive row suffices)."""
    return rows.amax(dim=1) if any_row else rows.amin(dim=1)


def margin_pgd(
    forward: Forward,
    lower: Tensor,
    upper: Tensor,
    spec: Tensor,
    offset: Tensor,
    starts: Tensor,
    *,
    steps: int = 20,
    deadline: float = math.inf,
    any_row: bool = False,
    first_step: float = 0.25,
    stop_at_violation: bool = False,
) -> tuple[Tensor, Tensor]:
    """Minimize min_k c_k·f(x) + d_k (max_k with ``any_row``) over the box
    [lower, upper] from ``starts``.

    Args:
        forward: the network (differentiable).
        lower, upper: (1 or R, *input shape) the box.
        spec, offset: the rows, as in :func:`row_values`.
        starts: (R, *input shape) starting points inside the box.
        steps: signed-gradient steps; the step shrinks linearly from ``first_step`` times
            the box's width.
        deadline: a ``time.perf_counter()`` value after which no further step is taken.
        any_row: minimize the largest row instead (see :func:`property_value`).
        first_step: the first step as a fraction of the box's width (default a quarter).
        stop_at_violation: stop as soon as some point's value is ≤ 0.

    Returns:
        ``(x, value)``: the best point (*input shape) and its :func:`property_value`.
    """
    x = starts.clone()
    best_x = x[0].clone()
    best_v = torch.tensor(torch.inf, dtype=spec.dtype, device=spec.device)
    width = upper - lower
    for t in range(steps + 1):
        with torch.enable_grad():
            x.requires_grad_(True)
            v = property_value(row_values(forward, x, spec, offset), any_row)
            (g,) = torch.autograd.grad(v.sum(), x)
        x = x.detach()
        vd = v.detach()
        i = int(vd.argmin())
        if vd[i] < best_v:
            best_x, best_v = x[i].clone(), vd[i].clone()
        stop = stop_at_violation and bool(best_v <= 0)
        if stop or t == steps or time.perf_counter() > deadline:
            break
        step = first_step * width * (1 - t / steps)
        x = torch.minimum(torch.maximum(x - step * g.sign(), lower), upper)
    return best_x, best_v
