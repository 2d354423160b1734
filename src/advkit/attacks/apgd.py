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

At L1 the round is l1-APGD (Croce & Hein, ICML 2021, "Mind the box: l1-APGD for sparse
adversarial attacks on image classifiers", :mod:`advkit.attacks.apgd_l1`): a step on the
top-k coordinates of the gradient with k adapted to the sparsity of the best point, the
step size reset or divided by 1.5 every 4% of the steps, no momentum, and the exact
projection onto the ℓ1 ball ∩ box (the L1 threat's ``sparsity``, which sets its own
fixed-quantile step, is not used). ``large_reps=True`` (AutoAttack's L1 setting) spends
30%, 30% and 40% of the steps at 3ε, 2ε and ε, each phase starting from the previous
phase's best point projected onto its ball (N + 3 gradient calls a round).

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
from dataclasses import dataclass, field, fields

import torch
from torch import Tensor

from advkit.attacks import apgd_l1
from advkit.engine import AttackInfo, Best, Evaluation, FixedEpsAttack, Preset, Problem, Round
from advkit.objectives import DLR, CrossEntropy, Objective
from advkit.targets import top_others
from advkit.threat import L1

__all__ = ["APGD", "APGDT", "PRESETS", "checkpoints"]

MOMENTUM = 0.75
RHO = 0.75


def checkpoints(steps: int) -> list[int]:
    """The iterations w_j at which APGD may halve its step size."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    ws = sorted({math.ceil(q * steps) for q in p[1:] if math.ceil(q * steps) < steps})
    return [w for w in ws if w > 0]


@dataclass
class APGDState:
    """One APGD round's per-sample state (Croce & Hein 2020, Algorithm 1)."""

    x: Tensor
    x_prev: Tensor
    grad: Tensor
    eta: Tensor
    x_max: Tensor
    f_max: Tensor
    g_max: Tensor
    f_prev: Tensor
    increases: Tensor
    f_max_at_ckpt: Tensor
    reduced_at_ckpt: Tensor
    target: Tensor | None
    ckpts: frozenset[int]
    prev_ckpt: int = 0


class AutoPGD(FixedEpsAttack[APGDState | apgd_l1.L1State]):
    """The APGD loop (steps + 1 gradient calls per round): momentum steps, and step-size
    halving at the checkpoints, restarting from the best point; at L1 the l1-APGD round
    of :mod:`advkit.attacks.apgd_l1`.

    ``target_of`` gives the objective's target for a round's rows; success is judged by
    the problem's own goal.
    """

    large_reps: bool

    def short_repr(self) -> str:
        """The dataclass repr, without ``large_reps`` while it is off: an attack configured
        as before the option existed keeps its repr, which keys the stores of
        :func:`advkit.evaluate`, so their records are still resumed."""
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)  # type: ignore[arg-type]
            if f.repr and (f.name != "large_reps" or self.large_reps)
        ]
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def check_options(self) -> None:
        """Refuse options that cannot run (called by the subclasses' ``__post_init__``)."""
        if self.large_reps and self.steps < apgd_l1.MIN_LARGE_REPS_STEPS:
            raise ValueError(
                "large_reps splits the steps 30%/30%/40% over 3ε, 2ε and ε and needs "
                f"steps >= {apgd_l1.MIN_LARGE_REPS_STEPS}, got steps={self.steps}; raise "
                "steps or drop large_reps"
            )

    def prepare(self, problem: Problem) -> object:
        if self.large_reps and not isinstance(problem.threat, L1):
            raise ValueError(
                "large_reps is l1-APGD's 3ε/2ε/ε schedule and needs an L1 threat, got "
                f"{problem.threat.name}; attack with advkit.L1(eps) or drop large_reps"
            )
        return None

    def iterations(self, rnd: Round) -> int:
        if not isinstance(rnd.problem.threat, L1):
            return self.steps
        return self.steps + len(apgd_l1.phases(self.steps, self.large_reps)) - 1

    def target_of(self, rnd: Round) -> Tensor | None:
        return rnd.problem.target

    def init(self, rnd: Round) -> tuple[APGDState | apgd_l1.L1State, Evaluation]:
        p = rnd.problem
        if isinstance(p.threat, L1):
            plan = apgd_l1.phases(self.steps, self.large_reps)
            target = self.target_of(rnd)
            return apgd_l1.start(rnd, self.objective(), target, self.stream(rnd), plan)
        x = p.threat.sample(p.x0, p.generators(*self.stream(rnd)))
        target = self.target_of(rnd)
        logits, loss, grad = p.value_and_grad(x, self.objective(), target)
        state = APGDState(
            x=x,
            x_prev=x,
            grad=grad,
            eta=2.0 * p.threat.radius(p.x0),
            x_max=x.clone(),
            f_max=loss.clone(),
            g_max=grad.clone(),
            f_prev=loss,
            increases=torch.zeros_like(loss),
            f_max_at_ckpt=loss.clone(),
            reduced_at_ckpt=torch.zeros_like(loss, dtype=torch.bool),
            target=target,
            ckpts=frozenset(checkpoints(self.steps)),
        )
        return state, Evaluation(x, loss, p.successful(logits), logits=logits)

    def stream(self, rnd: Round) -> tuple[str, int]:
        """The named random stream of the round's random start."""
        return "apgd-start", rnd.index

    def step(self, rnd: Round, s: APGDState | apgd_l1.L1State, k: int) -> Evaluation:
        if isinstance(s, apgd_l1.L1State):
            return apgd_l1.advance(rnd, s, self.objective())
        p = rnd.problem
        z = p.project(p.threat.ascent(s.grad, s.x).mul_(s.eta).add_(s.x))
        a = 1.0 if k == 1 else MOMENTUM
        # x + a (z − x) + (1 − a)(x − x_prev), in this order, with no temporary kept
        x = p.project((z - s.x).mul_(a).add_(s.x).add_((s.x - s.x_prev).mul_(1 - a)))
        logits, loss, grad = p.value_and_grad(x, self.objective(), s.target)
        s.x_prev, s.x, s.grad = s.x, x, grad
        s.increases += (loss > s.f_prev).to(s.increases.dtype)
        s.f_prev = loss
        improved = (loss > s.f_max).nonzero().squeeze(1)
        if improved.numel():
            s.x_max.index_copy_(0, improved, x.index_select(0, improved))
            s.f_max.index_copy_(0, improved, loss.index_select(0, improved))
            s.g_max.index_copy_(0, improved, grad.index_select(0, improved))
        if k in s.ckpts:
            self._checkpoint(s, k)
        return Evaluation(x, loss, p.successful(logits), logits=logits)

    @staticmethod
    def _checkpoint(s: APGDState, k: int) -> None:
        """Halve the step where progress stalled, and restart those rows from their best."""
        osc = s.increases < RHO * (k - s.prev_ckpt)
        stalled = ~s.reduced_at_ckpt & (s.f_max <= s.f_max_at_ckpt)
        reduce = osc | stalled
        s.reduced_at_ckpt = reduce
        s.f_max_at_ckpt = s.f_max.clone()
        s.increases.zero_()
        s.prev_ckpt = k
        s.eta[reduce] /= 2.0
        rows = reduce.reshape(-1, *([1] * (s.x.dim() - 1)))
        s.x = torch.where(rows, s.x_max, s.x)
        s.grad = torch.where(rows, s.g_max, s.grad)


@dataclass(frozen=True)
class APGD(AutoPGD):
    """Auto-PGD on one objective, with random start and restarts on unbroken samples.

    Args:
        steps: iterations per restart (default 100, as in AutoAttack); each restart costs
            steps + 1 gradient calls for a sample that stays robust.
        restarts: random restarts (default 1).
        loss: the objective, :class:`~advkit.objectives.CrossEntropy` (default) or
            :class:`~advkit.objectives.DLR`.
        large_reps: at L1 only, run each restart at 3ε, 2ε, then ε (30%, 30%, 40% of the
            steps; AutoAttack's L1 setting); needs steps >= 5.
    """

    info = AttackInfo("apgd-ce", "Auto-PGD with cross-entropy, 100 steps, Croce & Hein 2020")

    steps: int = 100
    restarts: int = 1
    loss: Objective = field(default_factory=CrossEntropy)
    large_reps: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.restarts < 1:
            raise ValueError("steps and restarts must be >= 1")
        self.check_options()

    def __repr__(self) -> str:
        return self.short_repr()

    def rounds(self, context: object) -> int:
        return self.restarts


@dataclass(frozen=True)
class Ranked:
    """APGD-T's run-wide context: the clean logits and each sample's target classes."""

    clean: Tensor
    ranked: Tensor


@dataclass(frozen=True)
class APGDT(AutoPGD):
    """Targeted APGD with the DLR loss over the most likely wrong classes (APGD-T).

    For each of the ``target_classes`` highest-scoring wrong classes of the clean input
    (most likely first), run APGD with the targeted DLR loss on the samples still robust.
    Success is misclassification into any wrong class. Needs at least 4 classes.

    Args:
        steps: iterations per target class and restart (default 100).
        target_classes: number of target classes (default 9, AutoAttack's standard).
        restarts: restarts per target class (default 1).
        large_reps: at L1 only, run each round at 3ε, 2ε, then ε (as :class:`APGD`).
    """

    info = AttackInfo(
        "apgd-t", "targeted APGD-DLR over the 9 most likely wrong classes, Croce & Hein"
    )

    steps: int = 100
    target_classes: int = 9
    restarts: int = 1
    large_reps: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.restarts < 1 or self.target_classes < 1:
            raise ValueError("steps, restarts and target_classes must be >= 1")
        self.check_options()

    def __repr__(self) -> str:
        return self.short_repr()

    def objective(self) -> Objective:
        return DLR()

    def prepare(self, problem: Problem) -> Ranked:
        super().prepare(problem)
        if problem.target is not None:
            raise ValueError(
                "APGDT chooses its own target classes and succeeds on any "
                "misclassification; for a given target use APGD(loss=DLR()) with target="
            )
        clean = problem.logits(problem.x0)
        k = min(self.target_classes, clean.shape[1] - 1)
        return Ranked(clean, top_others(clean, problem.y, k))

    def begin(self, problem: Problem, context: Ranked) -> Best:
        zeros = torch.zeros(len(problem), device=problem.x0.device)
        success = problem.successful(context.clean)
        return Best.maximizing(problem.x0, success, zeros, context.clean)

    def rounds(self, context: Ranked) -> int:
        return context.ranked.shape[1] * self.restarts

    def stream(self, rnd: Round) -> tuple[str, int]:
        return "apgd-t-start", rnd.index

    def target_of(self, rnd: Round) -> Tensor:
        return rnd.context.ranked[rnd.local, rnd.index // self.restarts]


PRESETS = (
    Preset(
        "apgd-dlr",
        "Auto-PGD with the DLR loss, 100 steps, Croce & Hein 2020",
        APGD,
        {"loss": DLR()},
    ),
)
"""Named configurations in the attack table."""
