"""Interval bound propagation (IBP): the cheapest certificate.

Problem solved: prove that no input in Δ(x) = {‖x − x0‖_p ≤ ε} ∩ box changes the label.
Boxes are pushed through every layer (Gowal et al. 2018, "On the effectiveness of interval
bound propagation for training verifiably robust models"); the last affine segment is
handled with the margin specification folded in (as in the paper's elision of the last
layer), and when no ReLU separates the output from the input the bound is the exact worst
case through the threat's dual norm (so linear models are certified exactly).

Threat models: L∞ (boxes are exact there), L2 and L1 (through the box that contains the
ball, and the dual norm for the affine part before the first ReLU).

Example:
    >>> import torch, advkit
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8),
    ...                           torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    >>> res = advkit.certify(net, torch.rand(2, 4), torch.tensor([0, 1]), advkit.Linf(0.0),
    ...                      advkit.IBP())
    >>> res.lower.shape
    torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from advkit.certify.bounds import backward_bound, ibp_bounds
from advkit.certify.task import CertOutput, CertTask

__all__ = ["IBP"]


@dataclass(frozen=True)
class IBP:
    """Interval bound propagation; no options."""

    name: ClassVar[str] = "ibp"

    def run(self, task: CertTask) -> CertOutput:
        """Lower bounds (N, K) of every margin z_y − z_j."""
        relu_in = ibp_bounds(task.graph, task.inputs)
        out = len(task.graph.nodes) - 1
        lower = backward_bound(task.graph, out, task.spec, task.inputs, relu_in, stop_at_relu=True)
        return CertOutput(lower)
