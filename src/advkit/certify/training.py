"""Certified training: IBP and CROWN-IBP losses, with the usual ramp schedules.

Problem solved: train a network whose robustness can be *proved*. The robust loss is the
cross-entropy of the worst-case logits implied by lower bounds m_j ≤ z_y − z_j over the
ε-ball: with logits (−m_j)_j (0 for the true class), CE upper-bounds the worst-case
cross-entropy over Δ(x). The bounds are differentiable in the model's parameters.

- IBP (Gowal et al. 2018): m from interval bounds, loss κ·CE(z(x), y) + (1 − κ)·CE(−m, y),
  with ε ramped from 0 and κ ramped from 1 to ``kappa_final``.
- CROWN-IBP (Zhang et al. 2020, "Towards stable and efficient training of verifiably
  robust neural networks"): m = β·m_CROWN-IBP + (1 − β)·m_IBP, where CROWN-IBP runs a
  CROWN backward pass on top of IBP's intermediate bounds; β goes from 1 to 0 as ε ramps.

Use :func:`certified_loss` in any training loop and :func:`ramp` for the schedules.

Example:
    >>> import torch, advkit
    >>> from advkit.certify.training import certified_loss
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8),
    ...                           torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> loss = certified_loss(net, torch.rand(5, 4), torch.randint(0, 3, (5,)),
    ...                       advkit.Linf(0.1), kappa=0.5, beta=1.0)
    >>> loss.backward()
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.certify.bounds import backward_bound, ibp_bounds
from advkit.certify.graph import trace
from advkit.certify.input_set import InputSet
from advkit.certify.task import margin_spec
from advkit.threat import ThreatModel

__all__ = ["certified_loss", "margin_lower_bounds", "ramp"]


def ramp(step: int, start: int, length: int, begin: float, end: float) -> float:
    """Linear schedule: ``begin`` until ``start``, then to ``end`` over ``length`` steps.

    Example:
        >>> ramp(15, start=10, length=10, begin=0.0, end=0.3)
        0.15
    """
    if length <= 0:
        return end if step >= start else begin
    t = min(max((step - start) / length, 0.0), 1.0)
    return begin + t * (end - begin)


def margin_lower_bounds(
    model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, beta: float = 0.0
) -> Tensor:
    """Differentiable lower bounds (N, K) of z_y − z_j: β·CROWN-IBP + (1 − β)·IBP."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    graph = trace(model, x)
    inputs = InputSet(threat, x)
    relu_in = ibp_bounds(graph, inputs)
    out = len(graph.nodes) - 1
    with torch.no_grad():
        logits_k = graph.forward(x[:1]).shape[1]
    spec = margin_spec(y, logits_k)
    lower = backward_bound(graph, out, spec, inputs, relu_in, stop_at_relu=True)
    if beta > 0:
        crown = backward_bound(graph, out, spec, inputs, relu_in)
        lower = beta * crown + (1 - beta) * lower
    return lower


def certified_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    kappa: float = 0.5,
    beta: float = 0.0,
    reduction: Literal["mean", "none"] = "mean",
) -> Tensor:
    """κ·CE(model(x), y) + (1 − κ)·CE(−m, y), m the margin lower bounds.

    Args:
        model: the network being trained (its mode is left as it is; use layers that
            :func:`advkit.certify.graph.trace` supports).
        x: inputs (N, ...); y: labels (N,).
        threat: the ε-ball to certify (ramp ε with :func:`ramp`).
        kappa: weight of the clean loss (ramp from 1 down to e.g. 0.5).
        beta: weight of CROWN-IBP against IBP bounds (1 → 0 during the ramp for
            CROWN-IBP; 0 for pure IBP).
        reduction: ``"mean"`` (a scalar, default) or ``"none"`` (per sample, (N,)).
    """
    if not 0.0 <= kappa <= 1.0:
        raise ValueError(f"kappa must be in [0, 1], got {kappa}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    clean = F.cross_entropy(model(x), y, reduction=reduction)
    if kappa >= 1.0:
        return clean
    lower = margin_lower_bounds(model, x, y, threat, beta)
    worst = -lower.scatter(1, y[:, None], 0.0)
    return kappa * clean + (1 - kappa) * F.cross_entropy(worst, y, reduction=reduction)
