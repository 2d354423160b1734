"""FAB: the fast adaptive boundary attack (Croce & Hein, ICML 2020, "Minimally distorted
adversarial examples with a fast adaptive boundary attack"), L∞, L2 and L1.

Each step linearizes the classifier at the iterate x: for every candidate class j,
f_j = Z_j − Z_y and its gradient g_j. The nearest linearized boundary is the j with the
least |f_j| / ‖g_j‖_q (q the dual norm), whose hyperplane is f_j + ⟨g_j, z − x⟩ = 0. Both
x and the original point x0 are projected onto that hyperplane inside the box, exactly
and in the threat's norm (:func:`~advkit.attacks._hyperplane.boundary_step`): steps d1
from x and d2 from x0. The next iterate is the biased convex combination

    x ← clip((1 − α)(x + η·d1) + α(x0 + η·d2)),   α = min(‖d1‖ / (‖d1‖ + ‖d2‖), α_max),

which overshoots the linearized boundary by η and leans towards x0 the closer x0 is to
it. When x is adversarial it is recorded (the least distance is kept) and then pulled
back towards x0, x ← x0 + β(x − x0), to look for a closer boundary point. On a linear
model the first step lands on the exact nearest boundary point (up to η).

Restarts after the first start at a random point on the sphere of radius ε/2 around x0
(the threat's ε; AutoAttack's 0.3 (L∞), 1.0 (L2) or 5.0 (L1) when ε = inf, or
``restart_eps``), drawn from the named stream ``fab-start`` (``fab-t-start``).

:class:`FAB` linearizes every class other than y at each step (K − 1 gradient calls).
:class:`FABT` is FAB-T (AutoAttack's standard suite): for each of the 9 most likely wrong
classes of the clean input in turn, FAB with only that class (one gradient call per step);
its goal stays misclassification. Given a target, :class:`FAB` linearizes
Z_t − max_{j≠t} Z_j and succeeds only on the target.

**With an ε (AutoAttack's use).** The threat's ε is a cap: a point counts as a success
only within ε. FAB answers "is there an adversarial example within ε?": a sample leaves at
its first success within ε (later steps could only lower a distance that already
counts), and later rounds (restarts, target classes) attack only the samples without
one. With ε = inf FAB minimizes: every step runs and the least distance is kept.
``refine=True`` keeps minimizing under a finite ε too and runs every round on every
attacked sample.

Cost per sample and round: each step linearizes every candidate class at the iterate
(C = K − 1 for FAB, 1 for FAB-T), each a forward+backward pass (a query and a gradient
call), so ``steps × C`` gradient calls for a sample that runs every step, as the
reference's. Judging a new point costs no pass of its own: the forward pass that judges
it also gives the first class's gradient there for the rows it does not fool (whose next
iterate it is), and the next step reuses that linearization. A round's last step judges
with a forward pass only, and an adversarial point (the sample leaves, or moves back
towards x0 and is linearized afresh there) gets no gradient: each costs a query without a
gradient call. A sample spends ``steps × C + 1`` queries per round plus one per
adversarial point judged before its last step (the reference: ``steps × (C + 1)``). The
record keeps the judging passes' logits, so the result is not evaluated again.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), advkit.FAB(steps=10))
    >>> bool(res.success.all())
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.attacks._hyperplane import boundary_step
from advkit.engine import AttackInfo, Best, Evaluation, MinimalAttack, Problem, Round
from advkit.objectives import Objective
from advkit.targets import all_others, top_others

__all__ = ["FAB", "FABT", "RESTART_EPS", "Candidates", "FABLoop", "FABState"]

RESTART_EPS = {"linf": 0.3, "l2": 1.0, "l1": 5.0}
"""AutoAttack's radius for restarts when no ε is given, by norm."""

NORMS = ("linf", "l2", "l1")


@dataclass(frozen=True)
class _Toward:
    """Z_k − Z_y for each row's class k (the ``target`` argument)."""

    name: str = "fab-gap"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        assert target is not None
        return (logits.gather(1, target[:, None]) - logits.gather(1, y[:, None]))[:, 0]


@dataclass(frozen=True)
class _Beat:
    """Z_t − max_{j≠t} Z_j for each row's target t (the given-target goal)."""

    name: str = "fab-target-gap"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        assert target is not None
        others = logits.scatter(1, target[:, None], -math.inf).amax(dim=1)
        return logits.gather(1, target[:, None])[:, 0] - others


@dataclass
class FABState:
    """One round's per-sample state: the iterate, the classes linearized there and, where
    ``ready``, the first class's f (M,) and ∇f (M, ...) at the iterate, from the pass that
    judged it (``f0`` and ``g0`` are None until a step has judged a point)."""

    x: Tensor
    classes: Tensor
    ready: Tensor
    f0: Tensor | None = None
    g0: Tensor | None = None


@dataclass(frozen=True)
class Candidates:
    """The run-wide context: the clean logits and each sample's classes (FAB: the classes
    linearized at every step; FAB-T: the targets, one per round)."""

    clean: Tensor
    classes: Tensor


class FABLoop(MinimalAttack[FABState]):
    """The FAB iteration shared by :class:`FAB` and :class:`FABT`."""

    steps: int
    restarts: int
    alpha_max: float
    eta: float
    beta: float
    restart_eps: float | None
    refine: bool

    def check_options(self) -> None:
        """Validate the options both attacks have."""
        if self.steps < 1 or self.restarts < 1:
            raise ValueError(f"steps and restarts must be >= 1, got {self.steps}, {self.restarts}")
        if not 0 <= self.alpha_max <= 1:
            raise ValueError(f"alpha_max must be in [0, 1], got {self.alpha_max}")
        if self.eta < 1:
            raise ValueError(f"eta (the overshoot) must be >= 1, got {self.eta}")
        if not 0 < self.beta <= 1:
            raise ValueError(f"beta (the backward step) must be in (0, 1], got {self.beta}")
        if self.restart_eps is not None and not 0 < self.restart_eps < math.inf:
            raise ValueError(f"restart_eps must be finite and > 0, got {self.restart_eps}")

    # ----- what FAB and FAB-T do differently ------------------------------------------------

    def gap(self, problem: Problem) -> Objective:
        """The function linearized for a candidate class (passed as ``target``)."""
        return _Toward()

    def classes_of(self, rnd: Round) -> Tensor:
        """The round's candidate classes, (M, C)."""
        return rnd.context.classes[rnd.local]

    def restart(self, rnd: Round) -> int:
        """The restart number of a round (0: start at x0)."""
        return rnd.index

    def stream(self) -> str:
        """The named random stream of the restarts' starts."""
        return "fab-start"

    # ----- the driver's hooks ---------------------------------------------------------------

    def begin(self, problem: Problem, context: Candidates) -> Best:
        return Best.minimizing(problem.x0, problem.successful(context.clean), context.clean)

    def attacked(self, best: Best) -> Tensor:
        return super().attacked(best) if self.refine else best.unbroken()

    def init(self, rnd: Round) -> tuple[FABState, Evaluation]:
        p = rnd.problem
        x = p.x0 if self.restart(rnd) == 0 else self._random_start(rnd)
        unknown = torch.zeros(len(p), dtype=torch.bool, device=x.device)  # not evaluated
        state = FABState(x, self.classes_of(rnd), unknown)
        return state, Evaluation(x, p.threat.norm(x - p.x0), unknown)

    def step(self, rnd: Round, s: FABState, k: int) -> Evaluation:
        p = rnd.problem
        f, g = self._linearize(p, s)
        x = self._move(p, s.x, f, g)
        logits = self._judge(p, x, s, last=k == self.iterations(rnd))
        adversarial = p.successful(logits)
        ok = adversarial & p.within_cap(x)
        done = ok & self._stops(p)
        back = adversarial & ~done
        s.x = torch.where(_rows(back, x), p.x0 + self.beta * (x - p.x0), x)
        return Evaluation(x, p.threat.norm(x - p.x0), ok, done, logits)

    # ----- the method -----------------------------------------------------------------------

    def _stops(self, p: Problem) -> Tensor:
        """(M,) bool: rows a success within the cap ends (a finite ε and no ``refine``)."""
        finite = torch.isfinite(p.threat.radius(p.x0).reshape(-1))
        return finite & (not self.refine)

    def _judge(self, p: Problem, x: Tensor, s: FABState, last: bool) -> Tensor:
        """The logits at the new point x. Unless the step is the ``last``, the same forward
        pass linearizes the first class at x for the rows x does not fool (whose next
        iterate is x: only those are differentiated and counted), kept in ``s``."""
        if last:
            s.ready = torch.zeros_like(s.ready)
            return p.logits(x)
        logits, s.f0, s.g0 = p.value_and_grad(
            x, self.gap(p), s.classes[:, 0], lambda z: ~p.successful(z)
        )
        s.ready = ~p.successful(logits)
        return logits

    def _linearize(self, p: Problem, s: FABState) -> tuple[Tensor, Tensor]:
        """f_j (M, C) and ∇f_j (M, C, ...) at the iterate s.x for each row's classes j."""
        gap = self.gap(p)
        f0, g0 = self._first(p, s, gap)
        fs, gs = [f0], [g0]
        for j in range(1, s.classes.shape[1]):
            _, f, g = p.value_and_grad(s.x, gap, s.classes[:, j])
            fs.append(f)
            gs.append(g)
        return torch.stack(fs, dim=1), torch.stack(gs, dim=1)

    def _first(self, p: Problem, s: FABState, gap: Objective) -> tuple[Tensor, Tensor]:
        """f (M,) and ∇f (M, ...) of each row's first class at s.x: kept from the pass that
        judged s.x where ``s.ready``, computed now for the other rows."""
        stale = (~s.ready).nonzero().squeeze(1)
        if s.f0 is None or s.g0 is None or stale.numel() == len(p):
            _, f, g = p.value_and_grad(s.x, gap, s.classes[:, 0])
            return f, g
        if stale.numel() == 0:
            return s.f0, s.g0
        _, f, g = p.subset(stale).value_and_grad(s.x[stale], gap, s.classes[stale, 0])
        return s.f0.index_copy(0, stale, f), s.g0.index_copy(0, stale, g)

    def _move(self, p: Problem, x: Tensor, f: Tensor, g: Tensor) -> Tensor:
        """The next iterate from x: the biased, overshot projections onto the nearest
        linearized boundary (of f (M, C) with gradients g), from x and from x0."""
        threat, n = p.threat, len(p)
        j = (f.abs() / (threat.dual_norm(g, batch_dims=2) + 1e-12)).argmin(dim=1)
        rows = torch.arange(n, device=j.device)
        w, f_j = g[rows, j].reshape(n, -1), f[rows, j]
        offset = ((p.x0 - x).reshape(n, -1) * w).sum(dim=1)
        start = torch.cat([x.reshape(n, -1), p.x0.reshape(n, -1)])
        d = boundary_step(
            start,
            torch.cat([w, w]),
            torch.cat([-f_j, -f_j - offset]),
            threat.lo,
            threat.hi,
            threat.p,
        )
        d1, d2 = d[:n].reshape(x.shape), d[n:].reshape(x.shape)
        a1, a2 = threat.norm(d1).clamp_min(1e-8), threat.norm(d2).clamp_min(1e-8)
        alpha = _rows((a1 / (a1 + a2)).clamp(0.0, self.alpha_max), x)
        moved = (1 - alpha) * (x + self.eta * d1) + alpha * (p.x0 + self.eta * d2)
        return threat.clip_box(moved)

    def _random_start(self, rnd: Round) -> Tensor:
        """x0 plus a random point of the sphere of radius ε/2 (per-sample draws)."""
        p = rnd.problem
        x0, d, linf = p.x0, p.x0[0].numel(), p.threat.name == "linf"
        draws = [
            2 * torch.rand(d, generator=g, device=g.device) - 1
            if linf
            else torch.randn(d, generator=g, device=g.device)
            for g in p.generators(self.stream(), rnd.index)
        ]
        t = torch.stack(draws).to(x0).reshape(x0.shape)
        unit = t / _rows(p.threat.norm(t).clamp_min(1e-12), t)
        eps = p.threat.radius(x0)
        if self.restart_eps is not None:
            radius = torch.full_like(eps, self.restart_eps)
        else:
            radius = torch.where(torch.isfinite(eps), eps, RESTART_EPS[p.threat.name])
        return p.threat.clip_box(x0 + unit * radius / 2)


def _rows(v: Tensor, like: Tensor) -> Tensor:
    """(N,) ``v`` shaped to broadcast against ``like`` (N, ...)."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


@dataclass(frozen=True)
class FAB(FABLoop):
    """FAB, untargeted (every class other than y at each step) or towards a given target.

    Args:
        steps: iterations per restart (default 100, AutoAttack's).
        restarts: rounds; every one after the first starts at a random point at distance
            ε/2 (default 1; AutoAttack's ``plus`` suite uses 5).
        alpha_max: the largest weight of the step from x0 (default 0.1).
        eta: the overshoot past the linearized boundary (default 1.05).
        beta: the backward step towards x0 after a success (default 0.9).
        restart_eps: the radius the restarts' starts are drawn at (halved); None: the
            threat's ε, or AutoAttack's default for the norm when ε = inf.
        refine: keep minimizing under a finite ε and run every restart on every attacked
            sample (default False: as AutoAttack, a success within ε ends a sample).

    Gradient calls per sample: at most ``restarts × steps × (K − 1)`` (one class instead
    of K − 1 for a given target).
    """

    steps: int = 100
    restarts: int = 1
    alpha_max: float = 0.1
    eta: float = 1.05
    beta: float = 0.9
    restart_eps: float | None = None
    refine: bool = False

    info = AttackInfo(
        "fab",
        "minimal L∞/L2/L1: FAB, projection on the linearized boundary, 100 steps, 2020",
        norms=NORMS,
        minimal=True,
    )

    def __post_init__(self) -> None:
        self.check_options()

    def prepare(self, problem: Problem) -> Candidates:
        clean = problem.logits(problem.x0)
        if problem.target is not None:
            return Candidates(clean, problem.target[:, None])
        if clean.shape[1] < 2:
            raise ValueError("FAB needs a model with at least 2 classes")
        return Candidates(clean, all_others(problem.y, clean.shape[1]))

    def gap(self, problem: Problem) -> Objective:
        return _Toward() if problem.target is None else _Beat()

    def rounds(self, context: Candidates) -> int:
        return self.restarts


@dataclass(frozen=True)
class FABT(FABLoop):
    """FAB-T: FAB towards each of the most likely wrong classes in turn (AutoAttack).

    For each of the ``target_classes`` highest-scoring wrong classes of the clean input
    (most likely first), FAB linearizes only Z_t − Z_y; success is misclassification into
    any wrong class.

    Args:
        steps: iterations per target class and restart (default 100).
        target_classes: number of target classes (default 9, AutoAttack's standard;
            fewer when the model has fewer wrong classes).
        restarts: rounds per target class (default 1), as in :class:`FAB`.
        alpha_max, eta, beta, restart_eps, refine: as in :class:`FAB`.

    Gradient calls per sample: at most ``target_classes × restarts × steps``.
    """

    steps: int = 100
    target_classes: int = 9
    restarts: int = 1
    alpha_max: float = 0.1
    eta: float = 1.05
    beta: float = 0.9
    restart_eps: float | None = None
    refine: bool = False

    info = AttackInfo(
        "fab-t",
        "minimal L∞/L2/L1: targeted FAB over the 9 most likely wrong classes, Croce & Hein",
        norms=NORMS,
        minimal=True,
    )

    def __post_init__(self) -> None:
        self.check_options()
        if self.target_classes < 1:
            raise ValueError(f"target_classes must be >= 1, got {self.target_classes}")

    def prepare(self, problem: Problem) -> Candidates:
        if problem.target is not None:
            raise ValueError(
                "FABT chooses its own target classes and succeeds on any misclassification; "
                "for a given target use FAB() with target="
            )
        clean = problem.logits(problem.x0)
        k = min(self.target_classes, clean.shape[1] - 1)
        return Candidates(clean, top_others(clean, problem.y, k))

    def rounds(self, context: Candidates) -> int:
        return context.classes.shape[1] * self.restarts

    def classes_of(self, rnd: Round) -> Tensor:
        return rnd.context.classes[rnd.local, rnd.index // self.restarts][:, None]

    def restart(self, rnd: Round) -> int:
        return rnd.index % self.restarts

    def stream(self) -> str:
        return "fab-t-start"
