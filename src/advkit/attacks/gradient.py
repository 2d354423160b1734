"""First-order attacks within a fixed ε: FGM, I-FGM/BIM and PGD.

All three maximize an objective (cross-entropy by default) over the threat model's ball
intersected with the input box, using the threat's steepest-ascent step (sign for L∞,
normalized gradient for L2, sparse top-k for L1). The norm comes from the threat model:
FGM with :class:`~advkit.threat.Linf` is FGSM.

PGD's default step is Madry et al.'s 2.5·ε/steps, except under an L2 threat, where it
decays linearly from ε to ε/steps. Projecting onto an L2 ball only rescales the iterate,
so a step of size α turns it towards the optimum by about α/ε of the remaining angle: at
2.5·ε/steps a random start is still ~9° off a linear model's optimum after 100 steps,
while a step of ε halves the angle.

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

from advkit.engine import AttackInfo, Best, Evaluation, FixedEpsAttack, Problem, Round
from advkit.objectives import CrossEntropy, Objective
from advkit.threat import L2, ThreatModel

__all__ = ["BIM", "FGM", "PGD", "ProjectedAscent"]


def _check_steps(steps: int, restarts: int = 1) -> None:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")


@dataclass(frozen=True)
class CleanStart:
    """The clean points' logits, loss and gradient (zero where the clean point already
    succeeds): the record's start and the first step's gradient, from one forward pass."""

    logits: Tensor
    loss: Tensor
    grad: Tensor


@dataclass
class AscentState:
    """The iterate, its gradient and each sample's ε."""

    x: Tensor
    grad: Tensor
    radius: Tensor


class ProjectedAscent(FixedEpsAttack[AscentState]):
    """Projected steepest ascent: the loop of FGM, BIM and PGD.

    A round starts at the clean points (or, with ``random_start``, at a uniform random
    point of the ball) and takes ``steps`` steps, step k of size
    ``relative_step(threat, k, steps) · ε``, along the threat's steepest-ascent direction,
    projecting onto the ball and the box; the last iterate is evaluated with a forward
    pass only (``steps`` gradient calls). Starting at the clean points, the clean check's
    forward pass also gives the first gradient: FGSM costs one forward+backward and one
    forward pass per attacked image.
    """

    loss: Objective
    random_start: ClassVar[bool] = False

    def relative_step(self, threat: ThreatModel, k: int, steps: int) -> float:
        """Size of step k (1..steps) as a fraction of ε."""
        return 1.0

    def start(self, rnd: Round) -> Tensor:
        """The round's first iterate: the clean points, or a uniform random point of the
        ball with ``random_start``."""
        p = rnd.problem
        if self.random_start:
            return p.threat.sample(p.x0, p.generators("start", rnd.index))
        return p.x0.clone()

    def prepare(self, problem: Problem) -> CleanStart | None:
        if self.random_start:
            return None
        return CleanStart(*problem.clean_value_and_grad(self.loss))

    def begin(self, problem: Problem, context: CleanStart | None) -> Best:
        if context is None:
            return super().begin(problem, context)
        success = problem.successful(context.logits)
        return Best.maximizing(problem.x0, success, context.loss, context.logits)

    def init(self, rnd: Round) -> tuple[AscentState, Evaluation]:
        p, clean = rnd.problem, rnd.context
        if clean is not None and rnd.index == 0:
            x, i = p.x0.clone(), rnd.local
            logits, loss, grad = clean.logits[i], clean.loss[i], clean.grad[i]
        else:
            x = self.start(rnd)
            logits, loss, grad = p.value_and_grad(x, self.loss, p.target)
        state = AscentState(x, grad, p.threat.radius(p.x0))
        return state, Evaluation(x, loss, p.successful(logits), logits=logits)

    def step(self, rnd: Round, state: AscentState, k: int) -> Evaluation:
        p, steps = rnd.problem, self.iterations(rnd)
        alpha = state.radius * self.relative_step(p.threat, k, steps)
        ascent = p.threat.ascent(state.grad, state.x)
        x = p.project(state.x + alpha * ascent)
        if k == steps:
            return self.evaluate(rnd, x)
        logits, loss, state.grad = p.value_and_grad(x, self.loss, p.target)
        state.x = x
        return Evaluation(x, loss, p.successful(logits), logits=logits)


@dataclass(frozen=True)
class FGM(ProjectedAscent):
    """Fast gradient method: one step of size ε along the steepest-ascent direction.

    With an L∞ threat this is FGSM (Goodfellow et al. 2015). One gradient call per sample.

    Args:
        loss: the objective to maximize (default cross-entropy).
    """

    info = AttackInfo(
        "fgm", "fast gradient method: one ε step (FGSM under L∞), Goodfellow et al. 2015"
    )

    loss: Objective = field(default_factory=CrossEntropy)

    def iterations(self, rnd: Round) -> int:
        return 1


@dataclass(frozen=True)
class BIM(ProjectedAscent):
    """Basic iterative method / I-FGM (Kurakin et al. 2017): iterated FGM from x0.

    Args:
        steps: number of gradient steps (default 50).
        rel_step: step size as a fraction of ε (default 2.5 / steps, so the iterates can
            cross the ball more than twice).
        loss: the objective to maximize (default cross-entropy).
    """

    info = AttackInfo(
        "bim", "basic iterative method / I-FGM, 50 steps from x0, Kurakin et al. 2017"
    )

    steps: int = 50
    rel_step: float | None = None
    loss: Objective = field(default_factory=CrossEntropy)

    def __post_init__(self) -> None:
        _check_steps(self.steps)

    def relative_step(self, threat: ThreatModel, k: int, steps: int) -> float:
        return self.rel_step or 2.5 / steps


@dataclass(frozen=True)
class PGD(ProjectedAscent):
    """Projected gradient descent with random start and restarts (Madry et al. 2018).

    Each restart starts from a uniform random point of the ball and runs only on samples
    that no earlier restart broke; each sample keeps its best point over all restarts.

    Args:
        steps: gradient steps per restart (default 50).
        restarts: random restarts (default 3).
        rel_step: a constant step size as a fraction of ε (default: 2.5 / steps, Madry et
            al., except under an L2 threat, where step k of n is (n − k + 1) / n, a linear
            decay from ε to ε / n).
        loss: the objective to maximize (default cross-entropy).
    """

    info = AttackInfo(
        "pgd", "PGD, 50 steps, 3 random restarts on unbroken points, Madry et al. 2018"
    )
    random_start = True

    steps: int = 50
    restarts: int = 3
    rel_step: float | None = None
    loss: Objective = field(default_factory=CrossEntropy)

    def __post_init__(self) -> None:
        _check_steps(self.steps, self.restarts)

    def rounds(self, context: object) -> int:
        return self.restarts

    def relative_step(self, threat: ThreatModel, k: int, steps: int) -> float:
        if self.rel_step:
            return self.rel_step
        if isinstance(threat, L2):
            return (steps - k + 1) / steps
        return 2.5 / steps
