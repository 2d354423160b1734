"""The L-BFGS attack: least-L2 perturbation by box-constrained L-BFGS on a penalized loss.

Problem, per sample (Szegedy et al. 2014, "Intriguing properties of neural networks")::

    minimize ‖x − x0‖₂² + c · CE(x, t)        (targeted: t the target)
    minimize ‖x − x0‖₂² − c · CE(x, y)        (untargeted: away from the true label y)

over the input box, solved by scipy's L-BFGS-B (the box as bounds), one sample at a time.
The constant c is searched per sample as for C&W (×10 while no solution is adversarial,
bisection after), and each sample keeps its least-L2 adversarial solution.

Threat model: the threat's norm is the reported distance and ε a cap (``L2(math.inf)`` for
none), as for every minimal-distortion attack.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(2, 16), torch.tensor([0, 1])
    >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), advkit.LBFGS(steps=20))
    >>> res.x_adv.shape
    torch.Size([2, 16])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from advkit.attacks._engine import Problem
from advkit.attacks._minimal import Smallest, check_search, search_c, start_smallest, within_cap
from advkit.engine import Attack, AttackInfo
from advkit.objectives import CrossEntropy, is_successful

__all__ = ["LBFGS"]


def _solve(one: Problem, c: float, steps: int) -> Tensor:
    """L-BFGS-B on one sample at constant c; returns the solution (1, ...)."""
    x0 = one.x0
    shape, dtype = x0.shape, x0.dtype
    x0_np = x0.detach().double().reshape(-1).numpy()
    objective = CrossEntropy()

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.from_numpy(z).reshape(shape).to(dtype)
        _, ce, g = one.value_and_grad(x, objective, one.target)
        d = z - x0_np
        # CrossEntropy is the loss to maximize: CE(y) untargeted, −CE(t) targeted
        value = float(d @ d) - c * float(ce[0])
        grad = 2 * d - c * g.double().reshape(-1).numpy()
        return value, grad

    res = minimize(
        fun,
        x0_np,
        jac=True,
        method="L-BFGS-B",
        bounds=[(one.threat.lo, one.threat.hi)] * x0_np.size,
        options={"maxiter": steps, "maxfun": steps},
    )
    return torch.from_numpy(res.x).reshape(shape).to(dtype)


@dataclass(frozen=True)
class LBFGS(Attack):
    """Szegedy et al.'s box-constrained L-BFGS attack (minimal L2, white-box).

    Args:
        steps: L-BFGS-B iterations (and function evaluations) per value of c (default 100).
        search_steps: values of c tried per sample (default 8).
        initial_const: first c (default 1e-2).

    Gradient calls per sample: about ``search_steps × steps`` (scipy may exceed its
    evaluation limit by the few evaluations of one line search).
    """

    steps: int = 100
    search_steps: int = 8
    initial_const: float = 1e-2

    info = AttackInfo(
        "lbfgs",
        "minimal L2: box-constrained L-BFGS on L2² + c·CE (scipy), Szegedy 2014",
        minimal=True,
    )

    def __post_init__(self) -> None:
        check_search(self.search_steps, self.steps, self.initial_const)

    def run(self, problem: Problem) -> Tensor:
        best = start_smallest(problem)

        def run_round(sub: Problem, local: Tensor, c: Tensor) -> Tensor:
            return _round(sub, local, c, best, self.steps)

        search_c(
            problem,
            best,
            initial_const=self.initial_const,
            search_steps=self.search_steps,
            run_round=run_round,
        )
        return best.x


def _round(sub: Problem, local: Tensor, c: Tensor, best: Smallest, steps: int) -> Tensor:
    """Solve each sample at its own c and record the adversarial solutions."""
    xs = torch.cat(
        [_solve(sub.subset(torch.tensor([i])), float(c[i]), steps) for i in range(len(sub))]
    )
    logits = sub.white_box.logits(xs, sub.rows)
    ok = is_successful(logits, sub.y, sub.target) & within_cap(sub, xs)
    d = (xs - sub.x0).reshape(len(sub), -1)
    best.update(local, xs, d.pow(2).sum(dim=1), ok)
    return ok
