"""α-CROWN: CROWN with the lower slopes of unstable ReLUs optimized by gradient ascent.

Problem solved: tighten CROWN's certificate. Every lower line a·h of an unstable ReLU is
valid for any a ∈ [0, 1], so the final bound is a function of the slopes that can be
maximized (Xu et al. 2021, "Fast and complete: enabling complete neural network
verification with rapid and massively parallel incomplete verifiers"). Slopes are kept per
sample, per margin and per neuron, start from CROWN's choice, are updated with Adam and
clipped to [0, 1]; the best bound seen for each margin is kept, so α-CROWN is never looser
than CROWN. Pre-activation bounds are CROWN's (only the final bound is optimized); max
pooling keeps its fixed DeepPoly relaxation.

Defaults: 20 steps, learning rate 0.1.

Example:
    >>> import torch, advkit
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8),
    ...                           torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    >>> x = torch.rand(2, 4)
    >>> res = advkit.certify(net, x, net(x).argmax(1), advkit.Linf(0.05),
    ...                      advkit.AlphaCROWN(steps=5))
    >>> res.lower.shape
    torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from advkit.certify.bounds import backward_bound, crown_bounds
from advkit.certify.task import CertOutput, CertTask

__all__ = ["AlphaCROWN"]


@dataclass(frozen=True)
class AlphaCROWN:
    """Optimized-slope CROWN.

    Args:
        steps: Adam steps on the slopes (0 gives CROWN).
        lr: Adam learning rate.
    """

    steps: int = 20
    lr: float = 0.1

    name: ClassVar[str] = "alpha-crown"

    def __post_init__(self) -> None:
        if self.steps < 0 or self.lr <= 0:
            raise ValueError(f"AlphaCROWN needs steps >= 0 and lr > 0, got {self}")

    def run(self, task: CertTask) -> CertOutput:
        """Lower bounds (N, K) of every margin z_y − z_j."""
        g = task.graph
        pre = crown_bounds(g, task.inputs)
        out = len(g.nodes) - 1
        spec = task.spec
        k = spec.shape[1]
        slopes = {}
        for i in g.nonlinear():
            a = g.nodes[i].op.lower_slopes(pre[i])
            if a is not None:
                slopes[i] = a[:, None].expand(-1, k, *a.shape[1:]).clone().requires_grad_(True)
        with torch.no_grad():
            best = backward_bound(g, out, spec, task.inputs, pre)
        if not slopes or self.steps == 0:
            return CertOutput(best)
        opt = torch.optim.Adam(list(slopes.values()), lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                val = backward_bound(g, out, spec, task.inputs, pre, slopes=slopes)
                best = torch.maximum(best, val.detach())
                params = list(slopes.values())
                # autograd.grad, not backward(): the model's .grad must stay untouched
                grads = torch.autograd.grad(-val.sum(), params)
                for p, g_ in zip(params, grads, strict=True):
                    p.grad = g_
                opt.step()
                with torch.no_grad():
                    for s in slopes.values():
                        s.clamp_(0, 1)
        with torch.no_grad():
            best = torch.maximum(
                best, backward_bound(g, out, spec, task.inputs, pre, slopes=slopes)
            )
        return CertOutput(best)
