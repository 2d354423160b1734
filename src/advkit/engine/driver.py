"""The attack kernel's driver: one loop that every iterative attack plugs into.

An attack supplies small hooks; the driver owns what every attack shares:

- the per-sample active set and its compaction (rows that are done leave the loop and
  every per-sample field of the attack's state is compacted with them, see
  :func:`~advkit.engine.select_rows`);
- one best-so-far record (:class:`~advkit.engine.Best`): maximal objective for
  :class:`FixedEpsAttack`, least distortion among successes for :class:`MinimalAttack`;
- rounds: restarts that run only on samples still unbroken (fixed ε), or rounds of a
  search on all attacked samples (minimal, e.g. on the constant c);
- early stop: a fixed-ε attack drops a sample as soon as it succeeds, any attack may
  drop rows it reports ``done`` (abort-early, exhausted budget).

The contract of the hooks, for a round on rows ``rnd.local`` with ``steps`` iterations:

    problem = view(problem)            # the oracle the attack runs on
    context = prepare(problem); best = begin(problem, context)
    state, ev = init(rnd)              # ev evaluates the round's starting point
    for k in 1..steps:
        record ev, drop rows that leave (state and rnd compacted)
        ev = step(rnd, state, k)      # advance every row of state, evaluate the new point
    record ev
    end_round(rnd0, succeeded)         # e.g. update the search on c

An :class:`Evaluation`'s tensors are recorded as returned: a hook must not modify them in
place afterwards (build new tensors for the state instead).

Example:
    >>> import torch, advkit
    >>> from dataclasses import dataclass
    >>> from advkit.engine import AttackInfo, Evaluation, FixedEpsAttack, Round
    >>> from advkit.objectives import CrossEntropy
    >>> @dataclass(frozen=True)
    ... class Walk(FixedEpsAttack):  # random search: keep the point with the highest loss
    ...     info = AttackInfo("walk", "random points of the ball")
    ...     steps: int = 5
    ...     loss: CrossEntropy = CrossEntropy()
    ...     def init(self, rnd: Round) -> tuple[None, Evaluation]:  # no state to carry
    ...         return None, self.evaluate(rnd, rnd.problem.x0.clone())
    ...     def step(self, rnd: Round, state: None, k: int) -> Evaluation:
    ...         p = rnd.problem
    ...         return self.evaluate(rnd, p.threat.sample(p.x0, p.generators("walk", k)))
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> res = advkit.attack(model, torch.rand(4, 16), torch.tensor([0, 1, 2, 0]),
    ...                     advkit.Linf(0.1), Walk())
    >>> bool((res.distance <= 0.1 + 1e-6).all())
    True
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, final

import torch
from torch import Tensor

from advkit.engine.attack import Attack
from advkit.engine.outcome import Outcome
from advkit.engine.problem import Problem
from advkit.engine.record import Best
from advkit.engine.rows import select_rows
from advkit.objectives import Objective

__all__ = ["Evaluation", "FixedEpsAttack", "IterativeAttack", "MinimalAttack", "Round"]

S = TypeVar("S")


@dataclass(frozen=True)
class Evaluation:
    """One evaluated point per active row.

    Attributes:
        x: the points (M, ...).
        score: objective to maximize (fixed ε) or distortion score to minimize (minimal).
        success: (M,) bool, the point meets the goal (and, for minimal attacks, every extra
            condition such as the ε cap or the confidence κ).
        done: (M,) bool, rows that leave the round after this point (None: none).
        logits: (M, K) the problem's logits at x when the attack has them (None: not
            given), recorded with the best points: where the attack saw the plain model,
            they are the final re-check of the points it returns.
    """

    x: Tensor
    score: Tensor
    success: Tensor
    done: Tensor | None = None
    logits: Tensor | None = None


@dataclass(frozen=True, eq=False)
class Round:
    """The rows attacked in one round, as they are compacted.

    Attributes:
        problem: the problem restricted to the rows still active.
        local: their positions in the whole problem (for run-wide per-sample data).
        index: the round's number (restart, target class × restart, search step, ...).
        context: the run-wide object the attack's ``prepare`` returned.
    """

    problem: Problem
    local: Tensor
    index: int
    context: Any = None

    def select(self, keep: Tensor) -> Round:
        """The round restricted to positions ``keep`` of its active rows."""
        return replace(self, problem=self.problem.subset(keep), local=self.local[keep])


class IterativeAttack(Attack, Generic[S]):
    """The driver shared by :class:`FixedEpsAttack` and :class:`MinimalAttack`."""

    steps: int

    # ----- hooks ------------------------------------------------------------------------

    def view(self, problem: Problem) -> Problem:
        """The problem the attack runs on (default: as given); an attack that sees the
        model through a view (a detector guard, BPDA) returns it with that oracle."""
        return problem

    def prepare(self, problem: Problem) -> Any:
        """Run-wide context handed to every round (default None)."""
        return None

    @abstractmethod
    def begin(self, problem: Problem, context: Any) -> Best:
        """The record before any round (usually the clean points' evaluation)."""

    def rounds(self, context: Any) -> int:
        """Number of rounds (default 1)."""
        return 1

    @abstractmethod
    def attacked(self, best: Best) -> Tensor:
        """Positions attacked by the next round."""

    def iterations(self, rnd: Round) -> int:
        """Steps per round (default: the configuration's ``steps``)."""
        return self.steps

    @abstractmethod
    def init(self, rnd: Round) -> tuple[S, Evaluation]:
        """The round's state and the evaluation of its starting point."""

    @abstractmethod
    def step(self, rnd: Round, state: S, k: int) -> Evaluation:
        """Advance every active row (step k = 1..steps) and evaluate the new point."""

    @abstractmethod
    def leaves(self, ev: Evaluation) -> Tensor:
        """(M,) bool: rows that stop after this evaluation."""

    def end_round(self, rnd: Round, succeeded: Tensor) -> None:
        """Called after each round with the rows it started on and which succeeded."""

    # ----- the driver -------------------------------------------------------------------

    @final
    def run(self, problem: Problem) -> Tensor:
        return self.solve(problem).x

    @final
    def solve(self, problem: Problem) -> Outcome:
        viewed = self.view(problem)
        context = self.prepare(viewed)
        best = self.begin(viewed, context)
        for index in range(self.rounds(context)):
            local = self.attacked(best)
            if local.numel() == 0:
                break
            rnd = Round(viewed.subset(local), local, index, context)
            succeeded = self._run_round(rnd, best, len(viewed))
            self.end_round(rnd, succeeded[local])
        plain = viewed.oracle.model is problem.oracle.model and not viewed.oracle.views
        if not plain or best.logits is None:  # a view's outputs are not the model's logits
            return Outcome(best.x)
        return Outcome(best.x, best.logits, best.known)

    def _run_round(self, rnd: Round, best: Best, n: int) -> Tensor:
        succeeded = torch.zeros(n, dtype=torch.bool, device=best.success.device)
        steps = self.iterations(rnd)
        state, ev = self.init(rnd)
        for k in range(1, steps + 1):
            active = self._absorb(rnd, state, ev, best, succeeded)
            if active is None:
                return succeeded
            rnd, state = active
            ev = self.step(rnd, state, k)
        self._record(rnd, ev, best, succeeded)  # the last point: nothing left to compact
        return succeeded

    @staticmethod
    def _record(rnd: Round, ev: Evaluation, best: Best, succeeded: Tensor) -> None:
        best.update(rnd.local, ev.x, ev.score, ev.success, ev.logits)
        succeeded[rnd.local] |= ev.success

    def _absorb(
        self, rnd: Round, state: S, ev: Evaluation, best: Best, succeeded: Tensor
    ) -> tuple[Round, S] | None:
        """Record ``ev``, then drop the rows that leave; None when no row is left."""
        self._record(rnd, ev, best, succeeded)
        leave = self.leaves(ev)
        if not bool(leave.any()):
            return rnd, state
        keep = (~leave).nonzero().squeeze(1)
        if keep.numel() == 0:
            return None
        return rnd.select(keep), select_rows(state, keep)


class FixedEpsAttack(IterativeAttack[S]):
    """An attack that maximizes an objective within a fixed ε.

    The record starts at the clean points (already-successful samples are never attacked),
    keeps each sample's successful or highest-objective point, every round (restart) runs
    only on samples still unbroken, and a sample leaves the loop as soon as it succeeds.
    Subclasses supply ``init`` and ``step`` (and ``rounds`` for restarts).
    """

    loss: Objective

    def objective(self) -> Objective:
        """The objective maximized (default: the configuration's ``loss``)."""
        return self.loss

    def begin(self, problem: Problem, context: Any) -> Best:
        logits = problem.logits(problem.x0)
        loss = self.objective()(logits, problem.y, problem.target)
        return Best.maximizing(problem.x0, problem.successful(logits), loss, logits)

    def attacked(self, best: Best) -> Tensor:
        return best.unbroken()

    def leaves(self, ev: Evaluation) -> Tensor:
        return ev.success if ev.done is None else ev.success | ev.done

    def evaluate(self, rnd: Round, x: Tensor) -> Evaluation:
        """Forward-only evaluation of x with the attack's objective (white box)."""
        p = rnd.problem
        logits = p.logits(x)
        loss = self.objective()(logits, p.y, p.target)
        return Evaluation(x, loss, p.successful(logits), logits=logits)


class MinimalAttack(IterativeAttack[S]):
    """An attack that looks for the least distortion that succeeds.

    The threat's ε is a cap (``math.inf`` for none). The record keeps, per sample, the
    successful point with the lowest distortion score (the attack's own rule); samples
    the clean point already breaks are never attacked; every round runs on all the other
    samples (later rounds may still lower their distortion). Rows leave a round only
    when the attack says ``done``.
    """

    def begin(self, problem: Problem, context: Any) -> Best:
        logits = problem.logits(problem.x0)
        return Best.minimizing(problem.x0, problem.successful(logits), logits)

    def attacked(self, best: Best) -> Tensor:
        return (best.score > 0).nonzero().squeeze(1)

    def leaves(self, ev: Evaluation) -> Tensor:
        return torch.zeros_like(ev.success) if ev.done is None else ev.done
