"""Branching for branch and bound: which ReLU neuron or input coordinate to split.

- ReLU splits: an unstable neuron (l < 0 < u) costs the bound its triangle relaxation,
  whose upper line has the intercept −l·u / (u − l); the score of a neuron is that
  intercept times the magnitude of the coefficients reaching its output, summed over the
  rows not yet proved (a BaBSR-like score, Bunel et al. 2020, "Branch and bound for
  piecewise linear neural network verification"). Splitting gives two children, one with
  h ≥ 0 and one with h ≤ 0.
- Input splits (low-dimensional inputs): the coordinate whose width times the magnitude of
  its coefficient in the final linear bound is largest is halved.

Example:
    >>> import torch
    >>> from advkit.certify.bab_domains import Domains
    >>> dom = Domains(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1, 0, dtype=torch.int8),
    ...               torch.zeros(1, 1), torch.tensor([[0.0, 1.0]]))
    >>> kids = split_inputs(dom)
    >>> kids.upper.tolist(), kids.lower.tolist()
    ([[1.0, 0.5], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.5]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from advkit.certify.bab_domains import Domains, ReluLayout
from advkit.certify.ops import Box

__all__ = ["input_scores", "relu_scores", "split_inputs", "split_relus"]


def relu_scores(
    layout: ReluLayout,
    boxes: dict[int, Box],
    coefficients: dict[int, Tensor],
    open_rows: Tensor,
) -> Tensor:
    """(B, S) branching scores of the ReLU neurons; −inf where a neuron is stable.

    Args:
        layout: the ReLU layout.
        boxes: the subdomains' clipped input bounds of each ReLU node, (B, *shape).
        coefficients: (B, K, *shape) coefficients reaching each ReLU's output.
        open_rows: (B, K) bool, the rows not yet proved on each subdomain.
    """
    if not layout.layers:  # no ReLU: nothing to split
        return torch.zeros(open_rows.shape[0], 0, device=open_rows.device)
    parts = []
    weight = open_rows.to(next(iter(boxes.values()))[0].dtype)
    for layer in layout.layers:
        lo, hi = boxes[layer.node]
        b = lo.shape[0]
        unstable = (lo < 0) & (hi > 0)
        gap = torch.where(unstable, hi - lo, torch.ones_like(hi))
        intercept = -lo * hi / gap
        coef = coefficients.get(layer.node)
        if coef is None:
            mass = torch.zeros_like(lo)
        else:
            mass = (coef.abs() * weight.reshape(b, -1, *[1] * (lo.dim() - 1))).sum(1)
        # the intercept alone breaks ties between neurons no open row reaches
        score = intercept * mass + 1e-6 * intercept
        parts.append(
            torch.where(unstable, score, torch.full_like(score, -torch.inf)).reshape(b, -1)
        )
    return torch.cat(parts, dim=1)


def input_scores(domains: Domains, coefficients: Tensor, open_rows: Tensor) -> Tensor:
    """(B, D) branching scores of the input coordinates: width × Σ_open |coefficient|.

    Args:
        domains: the subdomains (their boxes).
        coefficients: (B, K, *input shape) coefficients of x in the final linear bound.
        open_rows: (B, K) bool, the rows not yet proved on each subdomain.
    """
    b = len(domains)
    width = (domains.upper - domains.lower).reshape(b, -1)
    mass = (coefficients.reshape(b, coefficients.shape[1], -1).abs() * open_rows[..., None]).sum(1)
    # the width alone breaks ties (a coordinate no row reaches still shrinks the box)
    score = width * mass + 1e-6 * width
    return torch.where(width > 0, score, torch.full_like(score, -torch.inf))


def split_relus(domains: Domains) -> Domains:
    """Two children per subdomain: its best-scored neuron set active, then inactive.

    The children inherit the parent's bound (valid on any subset) and its scores with
    the split neuron removed. Every subdomain must have a finite score.
    """
    b = len(domains)
    rows = torch.arange(b, device=domains.splits.device)
    pick = domains.scores.argmax(dim=1)
    splits = domains.splits.repeat(2, 1)
    splits[rows, pick] = 1
    splits[rows + b, pick] = -1
    scores = domains.scores.clone()
    scores[rows, pick] = -torch.inf
    return Domains(
        domains.lower.repeat(2, *([1] * (domains.lower.dim() - 1))),
        domains.upper.repeat(2, *([1] * (domains.upper.dim() - 1))),
        splits,
        domains.bound.repeat(2, 1),
        scores.repeat(2, 1),
    )


def split_inputs(domains: Domains) -> Domains:
    """Two children per subdomain: its box halved along its best-scored coordinate."""
    b = len(domains)
    shape = domains.lower.shape
    rows = torch.arange(b, device=domains.lower.device)
    pick = domains.scores.argmax(dim=1)
    lo, hi = domains.lower.reshape(b, -1), domains.upper.reshape(b, -1)
    mid = (lo[rows, pick] + hi[rows, pick]) / 2
    left_hi, right_lo = hi.clone(), lo.clone()
    left_hi[rows, pick] = mid
    right_lo[rows, pick] = mid
    return Domains(
        torch.cat([lo, right_lo]).reshape(2 * b, *shape[1:]),
        torch.cat([left_hi, hi]).reshape(2 * b, *shape[1:]),
        domains.splits.repeat(2, 1),
        domains.bound.repeat(2, 1),
        domains.scores.repeat(2, 1),
    )
