"""PGD on a property's violation margin: the cheap search for ``sat``.

Problem solved: most violated properties have counterexamples that gradient ascent finds
in a fraction of a second, long before a complete method would. For one disjunct (a box
and rows c·y + d ≤ 0), the attack minimizes the violation margin
``max_k (c_k·f(x) + d_k)`` over the box by projected signed-gradient steps (Madry et al.
2018) from the box's center and random starts, all restarts in one batch; a point with a
margin ≤ 0 is a candidate counterexample (re-checked by the caller). It stops at the
deadline. The best point found is returned either way (a hint for exact methods).

Defaults: 50 steps, 8 restarts, step size 1/8 of the box's width, shrinking linearly.

Example:
    >>> import numpy as np, torch
    >>> from advkit.certify.vnn_attack import MarginPGD
    >>> from advkit.certify.vnn_network import VnnNetwork
    >>> from advkit.certify.vnn_property import Disjunct
    >>> net = VnnNetwork.of(torch.nn.Sequential(torch.nn.Linear(1, 1)).eval(), (1,))
    >>> with torch.no_grad():
    ...     _ = net.model[0].weight.fill_(1.0), net.model[0].bias.fill_(0.0)
    >>> part = Disjunct(np.array([-1.0]), np.array([1.0]), np.array([[1.0]]), np.array([0.5]))
    >>> x, margin = MarginPGD().run(net, part, deadline=float("inf"))
    >>> bool(margin <= 0)
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from advkit.certify.vnn_network import VnnNetwork
from advkit.certify.vnn_property import Disjunct

__all__ = ["MarginPGD", "violation_margin"]


def violation_margin(y: Tensor, c: Tensor, d: Tensor) -> Tensor:
    """max_k (c_k·y + d_k) per row of y (B, M), (B,); −1 when there are no rows (every
    point of the box is then a counterexample)."""
    if c.shape[0] == 0:
        return torch.full((y.shape[0],), -1.0, dtype=y.dtype, device=y.device)
    return (y @ c.T + d).max(dim=1).values


@dataclass(frozen=True)
class MarginPGD:
    """PGD minimizing the violation margin over a box.

    Args:
        steps: gradient steps per restart.
        restarts: random starts besides the center.
        seed: seed of the random starts.
    """

    steps: int = 50
    restarts: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.restarts < 0:
            raise ValueError(f"MarginPGD needs steps >= 1 and restarts >= 0, got {self}")

    def run(self, net: VnnNetwork, part: Disjunct, deadline: float) -> tuple[np.ndarray, float]:
        """The best point (D,) found and its margin (≤ 0: a candidate counterexample)."""
        gen = torch.Generator().manual_seed(self.seed)
        lo = torch.from_numpy(part.lower).float()
        hi = torch.from_numpy(part.upper).float()
        c, d = torch.from_numpy(part.c).float(), torch.from_numpy(part.d).float()
        starts = torch.rand(self.restarts, lo.numel(), generator=gen)
        x = torch.cat([((lo + hi) / 2)[None], lo + starts * (hi - lo)])
        best_x, best = x[0].clone(), float("inf")
        for step in range(self.steps + 1):
            x.requires_grad_(True)
            with torch.enable_grad():
                margin = violation_margin(net.outputs(x), c, d)
                (grad,) = torch.autograd.grad(margin.sum(), x)
            margin = margin.detach()
            i = int(margin.argmin())
            if float(margin[i]) < best:
                best, best_x = float(margin[i]), x[i].detach().clone()
            if best <= 0 or step == self.steps or time.perf_counter() > deadline:
                break
            size = (hi - lo) / 8 * (1 - step / self.steps)
            x = torch.minimum(torch.maximum(x.detach() - size * grad.sign(), lo), hi)
        return best_x.double().numpy(), best
