"""CROWN: backward linear relaxation of ReLU networks.

Problem solved: prove that no input in Δ(x) = {‖x − x0‖_p ≤ ε} ∩ box changes the label,
more tightly than intervals. Each margin z_y − z_j is propagated backward as a linear
function; every unstable ReLU is replaced by its triangle relaxation's upper line or by a
lower line a·h (a = 1 if u > −l else 0) according to the sign of its coefficient, and the
final linear function of x is minimized over the ball in closed form, ⟨a, x0⟩ − ε‖a‖_*
(through ``ThreatModel.support``), intersected with the input box. Pre-activation bounds
of every ReLU come from the same backward pass (Zhang et al. 2018, "Efficient neural
network robustness certification with general activation functions"); the fixed-slope
bound is of the same family as Wong & Kolter's dual bound (ICML 2018).

Threat models: L∞, L2, L1. Networks: anything :func:`advkit.certify.graph.trace` accepts
(Linear, Conv2d, ReLU, MaxPool2d, reshapes, BatchNorm, AvgPool, Normalize, residual
additions); max pooling uses DeepPoly's relaxation (see :mod:`advkit.certify.bounds`).

Example:
    >>> import torch, advkit
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8),
    ...                           torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    >>> x = torch.rand(2, 4)
    >>> res = advkit.certify(net, x, net(x).argmax(1), advkit.Linf(0.0), advkit.CROWN())
    >>> bool(res.certified.all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from advkit.certify.bounds import backward_bound, crown_bounds
from advkit.certify.task import CertOutput, CertTask

__all__ = ["CROWN"]


@dataclass(frozen=True)
class CROWN:
    """CROWN with CROWN's adaptive lower slopes; no options."""

    name: ClassVar[str] = "crown"

    def run(self, task: CertTask) -> CertOutput:
        """Lower bounds (N, K) of every margin z_y − z_j."""
        pre = crown_bounds(task.graph, task.inputs)
        out = len(task.graph.nodes) - 1
        return CertOutput(backward_bound(task.graph, out, task.spec, task.inputs, pre))
