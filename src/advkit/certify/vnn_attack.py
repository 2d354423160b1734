"""PGD on a property's violation margin: the cheap search for ``sat``.

Problem solved: most violated properties have counterexamples that gradient ascent finds
in a fraction of a second, long before a complete method would. For one disjunct (a box
and rows c·y + d ≤ 0), the attack minimizes the violation margin
``max_k (c_k·f(x) + d_k)`` over the box by projected signed-gradient steps (Madry et al.
2018) from the box's center and random starts, all restarts in one batch (branch and
bound's :func:`~advkit.certify.bab_attack.margin_pgd` on the disjunct's rows); a point with a
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

from dataclasses import dataclass

import numpy as np
import torch

from advkit.certify.bab_attack import margin_pgd
from advkit.certify.vnn_network import VnnNetwork
from advkit.certify.vnn_property import Disjunct

__all__ = ["MarginPGD"]


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
        if part.c.shape[0] == 0:  # no output constraint: every point is a counterexample
            return ((lo + hi) / 2).double().numpy(), -1.0
        c, d = torch.from_numpy(part.c).float(), torch.from_numpy(part.d).float()
        starts = torch.rand(self.restarts, lo.numel(), generator=gen)
        x = torch.cat([((lo + hi) / 2)[None], lo + starts * (hi - lo)])
        best_x, best = margin_pgd(
            net.outputs, lo, hi, c[None], d[None], x, steps=self.steps, deadline=deadline,
            any_row=True, first_step=1 / 8, stop_at_violation=True,
        )  # fmt: skip
        return best_x.double().numpy(), float(best)
