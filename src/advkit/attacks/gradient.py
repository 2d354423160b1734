"""First-order attacks within a fixed ε: FGM, I-FGM/BIM and PGD.

All three maximize an objective (cross-entropy by default) over the threat model's ball
intersected with the input box, using the threat's steepest-ascent step (sign for L∞,
normalized gradient for L2, sparse top-k for L1). The norm comes from the threat model:
FGM with :class:`~advkit.threat.Linf` is FGSM.

Papers: Goodfellow, Shlens & Szegedy 2015 (FGSM); Kurakin, Goodfellow & Bengio 2017
(I-FGM / BIM); Madry et al. 2018 (PGD with random start and restarts).

Example:
    >>> import torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    >>> res = advkit.attack(model, x, y, advkit.Linf(0.1), advkit.PGD(steps=20))
    >>> bool((res.distance <= 0.1 + 1e-6).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from torch import Tensor

from advkit.access import WHITE_BOX
from advkit.attacks._engine import BestSoFar, Problem, evaluate_start, with_restarts
from advkit.objectives import CrossEntropy, Objective, is_successful

__all__ = ["BIM", "FGM", "PGD"]


def _check_steps(steps: int, restarts: int = 1) -> None:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")


def iterate(
    problem: Problem,
    best: BestSoFar,
    local: Tensor,
    *,
    steps: int,
    rel_step: float,
    start: Tensor,
    objective: Objective,
) -> None:
    """Projected steepest ascent from ``start`` on positions ``local`` of ``problem``.

    Each sample leaves the loop as soon as it is successful; every iterate updates the
    per-sample best. The last iterate is evaluated with a forward pass only. The loop keeps
    only the samples still attacked, so a step indexes nothing unless a sample dropped out.
    """
    sub = problem.subset(local)
    x = start.clone()
    alpha = sub.threat.radius(sub.x0) * rel_step
    for _ in range(steps):
        logits, loss, g = sub.value_and_grad(x, objective, sub.target)
        succ = is_successful(logits, sub.y, sub.target)
        best.update(local, x, loss, succ)
        if succ.any():
            keep = (~succ).nonzero().squeeze(1)
            if keep.numel() == 0:
                return
            sub, local, x, g, alpha = sub.subset(keep), local[keep], x[keep], g[keep], alpha[keep]
        x = sub.threat.project(x + alpha * sub.threat.ascent(g, x), sub.x0)
    logits = sub.white_box.logits(x, sub.rows)
    best.update(
        local,
        x,
        objective(logits, sub.y, sub.target),
        is_successful(logits, sub.y, sub.target),
    )


@dataclass(frozen=True)
class FGM:
    """Fast gradient method: one step of size ε along the steepest-ascent direction.

    With an L∞ threat this is FGSM (Goodfellow et al. 2015). One gradient call per sample.

    Args:
        loss: the objective to maximize (default cross-entropy).
    """

    loss: Objective = field(default_factory=CrossEntropy)

    name: ClassVar[str] = "fgm"
    needs: ClassVar[int] = WHITE_BOX

    def run(self, problem: Problem) -> Tensor:
        best = evaluate_start(problem, self.loss)
        local = (~best.success).nonzero().squeeze(1)
        if local.numel():
            iterate(
                problem,
                best,
                local,
                steps=1,
                rel_step=1.0,
                start=problem.x0[local],
                objective=self.loss,
            )
        return best.x


@dataclass(frozen=True)
class BIM:
    """Basic iterative method / I-FGM (Kurakin et al. 2017): iterated FGM from x0.

    Args:
        steps: number of gradient steps (default 50).
        rel_step: step size as a fraction of ε (default 2.5 / steps, so the iterates can
            cross the ball more than twice).
        loss: the objective to maximize (default cross-entropy).
    """

    steps: int = 50
    rel_step: float | None = None
    loss: Objective = field(default_factory=CrossEntropy)

    name: ClassVar[str] = "bim"
    needs: ClassVar[int] = WHITE_BOX

    def __post_init__(self) -> None:
        _check_steps(self.steps)

    def run(self, problem: Problem) -> Tensor:
        best = evaluate_start(problem, self.loss)
        local = (~best.success).nonzero().squeeze(1)
        if local.numel():
            iterate(
                problem,
                best,
                local,
                steps=self.steps,
                rel_step=self.rel_step or 2.5 / self.steps,
                start=problem.x0[local],
                objective=self.loss,
            )
        return best.x


@dataclass(frozen=True)
class PGD:
    """Projected gradient descent with random start and restarts (Madry et al. 2018).

    Each restart starts from a uniform random point of the ball and runs only on samples
    that no earlier restart broke; each sample keeps its best point over all restarts.

    Args:
        steps: gradient steps per restart (default 50).
        restarts: random restarts (default 3).
        rel_step: step size as a fraction of ε (default 2.5 / steps, Madry et al.).
        loss: the objective to maximize (default cross-entropy).
    """

    steps: int = 50
    restarts: int = 3
    rel_step: float | None = None
    loss: Objective = field(default_factory=CrossEntropy)

    name: ClassVar[str] = "pgd"
    needs: ClassVar[int] = WHITE_BOX

    def __post_init__(self) -> None:
        _check_steps(self.steps, self.restarts)

    def run(self, problem: Problem) -> Tensor:
        best = evaluate_start(problem, self.loss)
        rel_step = self.rel_step or 2.5 / self.steps

        def once(problem: Problem, best: BestSoFar, local: Tensor, restart: int) -> None:
            sub = problem.subset(local)
            start = sub.threat.sample(sub.x0, sub.generators(restart))
            iterate(
                problem,
                best,
                local,
                steps=self.steps,
                rel_step=rel_step,
                start=start,
                objective=self.loss,
            )

        with_restarts(problem, best, self.restarts, once)
        return best.x
