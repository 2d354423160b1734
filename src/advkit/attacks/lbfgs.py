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

from advkit.attacks._search_on_c import SearchOnC, check_search
from advkit.engine import AttackInfo, Evaluation, Problem, Round
from advkit.objectives import CrossEntropy

__all__ = ["LBFGS"]


def _solve(one: Problem, c: float, steps: int) -> Tensor:
    """L-BFGS-B on one sample at constant c; returns the solution (1, ...)."""
    x0 = one.x0
    shape = x0.shape
    x0_np = x0.detach().double().reshape(-1).cpu().numpy()
    objective = CrossEntropy()

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.from_numpy(z).reshape(shape).to(x0)
        _, ce, g = one.value_and_grad(x, objective, one.target)
        d = z - x0_np
        # CrossEntropy is the loss to maximize: CE(y) untargeted, −CE(t) targeted
        value = float(d @ d) - c * float(ce[0])
        grad = 2 * d - c * g.double().reshape(-1).cpu().numpy()
        return value, grad

    res = minimize(
        fun,
        x0_np,
        jac=True,
        method="L-BFGS-B",
        bounds=[(one.threat.lo, one.threat.hi)] * x0_np.size,
        options={"maxiter": steps, "maxfun": steps},
    )
    return torch.from_numpy(res.x).reshape(shape).to(x0)


@dataclass(frozen=True)
class LBFGS(SearchOnC[Tensor]):
    """Szegedy et al.'s box-constrained L-BFGS attack (minimal L2, white-box).

    A round (one value of c per sample) starts at x0 and takes one step: an L-BFGS-B
    solve per sample (scipy), then one forward pass over the solutions.

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

    def iterations(self, rnd: Round) -> int:
        return 1

    def init(self, rnd: Round) -> tuple[Tensor, Evaluation]:
        """The state is each row's c (float64); the start x0 fails (only samples whose
        clean point fails are attacked), so it records nothing and costs no call."""
        p = rnd.problem
        fails = torch.zeros(len(p), dtype=torch.bool, device=p.x0.device)
        start = Evaluation(p.x0, torch.zeros_like(fails, dtype=p.x0.dtype), fails)
        return self.constants(rnd), start

    def step(self, rnd: Round, state: Tensor, k: int) -> Evaluation:
        p = rnd.problem
        one = [p.subset(torch.tensor([i], device=p.x0.device)) for i in range(len(p))]
        xs = torch.cat([_solve(o, float(c), self.steps) for o, c in zip(one, state, strict=True)])
        logits = p.logits(xs)
        ok = p.successful(logits) & p.within_cap(xs)
        return Evaluation(xs, (xs - p.x0).reshape(len(p), -1).pow(2).sum(dim=1), ok)
