"""Auto-PGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with
an ensemble of diverse parameter-free attacks").

APGD is PGD with momentum (α = 0.75) and a per-sample step size that starts at 2ε and
halves at checkpoints w_j = ⌈p_j N⌉ (p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) when either
  1. the objective increased in fewer than ρ = 75% of the steps since the last
     checkpoint, or
  2. the step size was not reduced at the last checkpoint and the best objective has not
     improved since then;
on a reduction the iterate restarts from the best point found so far.

:class:`APGD` maximizes one objective (cross-entropy by default, or DLR); :class:`APGDT`
is the targeted APGD-DLR that attacks the most likely wrong classes one after another
(the second attack of AutoAttack's standard suite) — its goal stays misclassification.

Example:
    >>> import torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> res = advkit.attack(model, x, y, advkit.Linf(0.05), advkit.APGD(steps=20))
    >>> res.gradient_calls.max().item() <= 21
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor

from advkit.access import WHITE_BOX
from advkit.attacks._engine import BestSoFar, Problem, evaluate_start, with_restarts
from advkit.objectives import DLR, CrossEntropy, Objective, is_successful
from advkit.targets import top_others

__all__ = ["APGD", "APGDT", "checkpoints"]

MOMENTUM = 0.75
RHO = 0.75


def checkpoints(steps: int) -> list[int]:
    """The iterations w_j at which APGD may halve its step size."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    ws = sorted({math.ceil(q * steps) for q in p[1:] if math.ceil(q * steps) < steps})
    return [w for w in ws if w > 0]


def run_apgd(
    problem: Problem,
    best: BestSoFar,
    local: Tensor,
    *,
    steps: int,
    start: Tensor,
    objective: Objective,
    target: Tensor | None,
) -> None:
    """One APGD run on positions ``local`` of ``problem`` (steps + 1 gradient calls).

    ``target`` (for ``local``) feeds the objective; success is judged by the problem's own
    goal (misclassification, or its target when the problem is targeted). The state holds
    only the samples still attacked, so a step indexes nothing unless a sample dropped out.
    """
    sub = problem.subset(local)
    eta = 2.0 * sub.threat.radius(sub.x0)
    ckpts = set(checkpoints(steps))
    prev_ckpt = 0

    x = start.clone()
    logits, loss, grad = sub.value_and_grad(x, objective, target)
    succ = is_successful(logits, sub.y, sub.target)
    best.update(local, x, loss, succ)

    x_max, f_max, g_max = x.clone(), loss.clone(), grad.clone()
    f_prev = loss
    increases = torch.zeros(len(sub))
    f_max_at_ckpt = loss.clone()
    reduced_at_ckpt = torch.zeros(len(sub), dtype=torch.bool)
    x_prev = x

    for k in range(1, steps + 1):
        if succ.any():
            keep = (~succ).nonzero().squeeze(1)
            if keep.numel() == 0:
                return
            sub, local = sub.subset(keep), local[keep]
            target = None if target is None else target[keep]
            x, x_prev, grad, eta, x_max, f_max, g_max = (
                t[keep] for t in (x, x_prev, grad, eta, x_max, f_max, g_max)
            )
            f_prev, increases, f_max_at_ckpt, reduced_at_ckpt = (
                t[keep] for t in (f_prev, increases, f_max_at_ckpt, reduced_at_ckpt)
            )

        threat, x0 = sub.threat, sub.x0
        z = threat.project(x + eta * threat.ascent(grad, x), x0)
        a = 1.0 if k == 1 else MOMENTUM
        x_prev, x = x, threat.project(x + a * (z - x) + (1 - a) * (x - x_prev), x0)

        logits, loss, grad = sub.value_and_grad(x, objective, target)
        succ = is_successful(logits, sub.y, sub.target)
        best.update(local, x, loss, succ)

        increases += (loss > f_prev).float()
        f_prev = loss
        improved = loss > f_max
        x_max[improved] = x[improved]
        f_max[improved] = loss[improved]
        g_max[improved] = grad[improved]

        if k in ckpts:
            osc = increases < RHO * (k - prev_ckpt)
            stalled = ~reduced_at_ckpt & (f_max <= f_max_at_ckpt)
            reduce = osc | stalled
            reduced_at_ckpt = reduce
            f_max_at_ckpt = f_max.clone()
            increases.zero_()
            prev_ckpt = k
            eta[reduce] /= 2.0
            x[reduce], grad[reduce] = x_max[reduce], g_max[reduce]


@dataclass(frozen=True)
class APGD:
    """Auto-PGD on one objective, with random start and restarts on unbroken samples.

    Args:
        steps: iterations per restart (default 100, as in AutoAttack); each restart costs
            steps + 1 gradient calls for a sample that stays robust.
        restarts: random restarts (default 1).
        loss: the objective, :class:`~advkit.objectives.CrossEntropy` (default) or
            :class:`~advkit.objectives.DLR`.
    """

    steps: int = 100
    restarts: int = 1
    loss: Objective = field(default_factory=CrossEntropy)

    name: ClassVar[str] = "apgd"
    needs: ClassVar[int] = WHITE_BOX

    def __post_init__(self) -> None:
        if self.steps < 1 or self.restarts < 1:
            raise ValueError("steps and restarts must be >= 1")

    def run(self, problem: Problem) -> Tensor:
        best = evaluate_start(problem, self.loss)

        def once(problem: Problem, best: BestSoFar, local: Tensor, restart: int) -> None:
            sub = problem.subset(local)
            start = sub.threat.sample(sub.x0, sub.generators(restart))
            run_apgd(
                problem,
                best,
                local,
                steps=self.steps,
                start=start,
                objective=self.loss,
                target=sub.target,
            )

        with_restarts(problem, best, self.restarts, once)
        return best.x


@dataclass(frozen=True)
class APGDT:
    """Targeted APGD with the DLR loss over the most likely wrong classes (APGD-T).

    For each of the ``target_classes`` highest-scoring wrong classes of the clean input
    (most likely first), run APGD with the targeted DLR loss on the samples still robust.
    Success is misclassification into any wrong class. Needs at least 4 classes.

    Args:
        steps: iterations per target class and restart (default 100).
        target_classes: number of target classes (default 9, AutoAttack's standard).
        restarts: restarts per target class (default 1).
    """

    steps: int = 100
    target_classes: int = 9
    restarts: int = 1

    name: ClassVar[str] = "apgd-t"
    needs: ClassVar[int] = WHITE_BOX

    def __post_init__(self) -> None:
        if self.steps < 1 or self.restarts < 1 or self.target_classes < 1:
            raise ValueError("steps, restarts and target_classes must be >= 1")

    def run(self, problem: Problem) -> Tensor:
        if problem.target is not None:
            raise ValueError(
                "APGDT chooses its own target classes and succeeds on any "
                "misclassification; for a given target use APGD(loss=DLR()) with target="
            )
        dlr = DLR()
        clean = problem.white_box.logits(problem.x0, problem.rows)
        best = BestSoFar(problem.x0, is_successful(clean, problem.y), torch.zeros(len(problem)))
        k = min(self.target_classes, clean.shape[1] - 1)
        ranked = top_others(clean, problem.y, k)
        for t in range(k):

            def once(
                problem: Problem, best: BestSoFar, local: Tensor, restart: int, t: int = t
            ) -> None:
                sub = problem.subset(local)
                start = sub.threat.sample(sub.x0, sub.generators(1000 * (t + 1) + restart))
                run_apgd(
                    problem,
                    best,
                    local,
                    steps=self.steps,
                    start=start,
                    objective=dlr,
                    target=ranked[local, t],
                )

            with_restarts(problem, best, self.restarts, once)
        return best.x
