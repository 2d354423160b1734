"""Exact certification of linear (affine) classifiers.

Problem solved: for z = W x + b the worst case of each margin over the ℓp ball is closed
form, min_{‖δ‖≤ε} (w_y − w_j)·(x + δ) + b_y − b_j = m_j(x) − ε‖w_y − w_j‖_* (dual norm),
and the minimal adversarial distance is min_j m_j(x) / ‖w_y − w_j‖_* (Kolter & Madry,
"Adversarial robustness: theory and practice", chapter 2). Any stack of affine layers
(Linear, Conv2d, Normalize, reshapes) is reduced to its (W, b) by tracing.

The certified bound also takes the input box into account (the larger of the ball's and
the box's worst case), so it is exact for L∞, and for L2/L1 whenever the box does not cut
the ball. :func:`linear_min_distance` ignores the box.

Example:
    >>> import torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> x, y = torch.rand(2, 4), torch.tensor([0, 1])
    >>> advkit.certify(model, x, y, advkit.L2(0.1), advkit.LinearExact()).lower.shape
    torch.Size([2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.certify.bounds import Relaxations, backward_bound, linear_pass
from advkit.certify.graph import trace
from advkit.certify.input_set import InputSet
from advkit.certify.task import CertOutput, CertTask, margin_spec
from advkit.threat import ThreatModel

__all__ = ["LinearExact", "linear_min_distance"]


def _require_linear(task_graph_relus: list[int]) -> None:
    if task_graph_relus:
        raise TypeError(
            "LinearExact needs a model without ReLUs or max pooling (an affine classifier); "
            "use CROWN, AlphaCROWN or MIP for ReLU networks"
        )


@dataclass(frozen=True)
class LinearExact:
    """Closed-form worst-case margins of an affine classifier; no options."""

    name: ClassVar[str] = "linear"

    def run(self, task: CertTask) -> CertOutput:
        """Exact lower bounds (N, K) of every margin z_y − z_j over Δ(x)."""
        _require_linear(task.graph.nonlinear())
        out = len(task.graph.nodes) - 1
        return CertOutput(backward_bound(task.graph, out, task.spec, task.inputs, {}))


@torch.no_grad()
def linear_min_distance(model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel) -> Tensor:
    """Exact minimal ℓp distance (the threat's norm; box ignored) that changes the label.

    Args:
        model: an affine classifier (no ReLU).
        x: inputs (N, ...).
        y: labels (N,); samples misclassified already get distance 0.

    Returns:
        (N,) distances min_j max(m_j, 0) / ‖w_y − w_j‖_*.
    """
    with eval_mode(model):
        graph = trace(model, x)
    _require_linear(graph.nonlinear())
    with torch.no_grad():
        logits = graph.forward(x)
    k = logits.shape[1]
    spec = margin_spec(y, k, x.dtype)
    n = x.shape[0]
    # the margins' gradients: Wᵀ applied to the specification by the backward steps
    _, w = linear_pass(graph, len(graph.nodes) - 1, spec, Relaxations(InputSet(threat, x)))
    assert w is not None
    margins = (spec * logits[:, None, :]).sum(-1)
    dual = threat.dual_norm(w, batch_dims=2)
    dist = margins.clamp_min(0) / dual.clamp_min(1e-30)
    dist[torch.arange(n), y] = math.inf
    return dist.min(dim=1).values
