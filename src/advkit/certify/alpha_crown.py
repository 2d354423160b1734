"""α-CROWN: CROWN with the lower slopes of unstable ReLUs optimized by gradient ascent.

Problem solved: tighten CROWN's certificate. Every lower line a·h of an unstable ReLU is
valid for any a ∈ [0, 1], so the final bound is a function of the slopes that can be
maximized (Xu et al. 2021, "Fast and complete: enabling complete neural network
verification with rapid and massively parallel incomplete verifiers"). Slopes are kept per
sample, per margin and per neuron, start from CROWN's choice, are updated with Adam and
clipped to [0, 1]; the best bound seen for each margin is kept, so α-CROWN is never looser
than CROWN. The pre-activation bounds of every later nonlinear node are optimized too, each
with its own parameters (:mod:`advkit.certify.alpha_slopes`), against the final bound:
optimizing the final pass alone leaves CROWN's unstable neurons and upper lines in place
and on trained MLPs certified the very samples CROWN certified. Sigmoid and tanh optimize
their tangent points the same way; max pooling keeps its fixed DeepPoly relaxation.

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

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import torch

from advkit.certify.alpha_slopes import SlopeSet
from advkit.certify.bounds import backward_bound, crown_bounds
from advkit.certify.task import CertOutput, CertTask

__all__ = ["AlphaCROWN"]


@dataclass(frozen=True)
class AlphaCROWN:
    """Optimized-slope CROWN.

    Args:
        steps: Adam steps on the parameters (0 gives CROWN).
        lr: Adam learning rate.
        intermediate: also optimize the bounds of every intermediate nonlinear node's
            input (default True); False optimizes the final pass only (cheaper, looser).
        time_limit: seconds of optimization per batch; past it the best bound so far is
            returned (every step's bound is sound, so stopping early only loosens it).
    """

    steps: int = 20
    lr: float = 0.1
    intermediate: bool = True
    time_limit: float = math.inf

    name: ClassVar[str] = "alpha-crown"

    def __post_init__(self) -> None:
        if self.steps < 0 or self.lr <= 0 or not self.time_limit >= 0:
            raise ValueError(f"AlphaCROWN needs steps >= 0, lr > 0 and time_limit >= 0, got {self}")

    def run(self, task: CertTask) -> CertOutput:
        """Lower bounds (N, K) of every margin z_y − z_j."""
        deadline = time.perf_counter() + self.time_limit
        g, inputs, spec = task.graph, task.inputs, task.spec
        pre = crown_bounds(g, inputs)
        out = len(g.nodes) - 1
        best = backward_bound(g, out, spec, inputs, pre)
        slopes = SlopeSet.build(g, pre, spec.shape[1], intermediate=self.intermediate)
        params = slopes.parameters()
        if not params or self.steps == 0:
            return CertOutput(best)
        opt = torch.optim.Adam(params, lr=self.lr)
        with torch.enable_grad():
            for step in range(self.steps + 1):
                bounds = slopes.bounds(g, inputs, pre)
                val = backward_bound(g, out, spec, inputs, bounds, slopes=slopes.final)
                best = torch.maximum(best, val.detach())
                if step == self.steps or time.perf_counter() > deadline:
                    break
                # autograd.grad, not backward(): the model's .grad must stay untouched
                grads = torch.autograd.grad(-val.sum(), params, allow_unused=True)
                for p, g_ in zip(params, grads, strict=True):
                    p.grad = g_
                opt.step()
                slopes.clamp_()
        return CertOutput(best)
