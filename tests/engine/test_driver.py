"""The kernel's driver, on two tiny attacks defined here: rows leave on success or when
done, restarts run only on unbroken samples, minimal rounds run on every attacked sample,
and ``end_round`` gets the round's rows with their successes.

The model classifies a 1-d input x as class 1 iff x > 0 (label 0 everywhere), so a step
of +h breaks a sample at a step number known in advance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

import advkit
from advkit.engine import AttackInfo, Evaluation, FixedEpsAttack, MinimalAttack, Round
from advkit.objectives import CrossEntropy, Objective

X0 = torch.tensor([[-2.5], [-0.5], [-1.5], [0.5]])  # the last one is misclassified already
Y = torch.zeros(4, dtype=torch.long)
KEYS = torch.tensor([10, 11, 12, 13])


class Threshold(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([torch.zeros_like(x), x], dim=1)


@dataclass
class Walker:
    x: Tensor


@dataclass(frozen=True)
class Climb(FixedEpsAttack[Walker]):
    """Round r starts at x0 + r and adds 1 per step; logs what the driver hands it."""

    info = AttackInfo("climb", "test attack: +1 per step", norms=("linf",))

    steps: int = 2
    restarts: int = 1
    loss: Objective = field(default_factory=CrossEntropy)
    log: list[Any] = field(default_factory=list, compare=False)

    def rounds(self, context: Any) -> int:
        return self.restarts

    def init(self, rnd: Round) -> tuple[Walker, Evaluation]:
        self.log.append(("init", rnd.index, rnd.local.tolist(), rnd.problem.keys.tolist()))
        x = rnd.problem.x0 + rnd.index
        return Walker(x), self.evaluate(rnd, x)

    def step(self, rnd: Round, state: Walker, k: int) -> Evaluation:
        self.log.append(("step", rnd.index, k, rnd.local.tolist()))
        state.x = state.x + 1
        return self.evaluate(rnd, state.x)

    def end_round(self, rnd: Round, succeeded: Tensor) -> None:
        self.log.append(("end", rnd.index, rnd.local.tolist(), succeeded.tolist()))


def _attack(method: Any, eps: float = 10.0) -> advkit.AttackResult:
    threat = advkit.Linf(eps, lo=-10.0, hi=10.0)
    return advkit.attack(Threshold().eval(), X0, Y, threat, method, index=KEYS)


def test_fixed_eps_rows_leave_on_success_and_restarts_run_on_unbroken_samples() -> None:
    climb = Climb(steps=2, restarts=3)
    res = _attack(climb)
    assert climb.log == [
        ("init", 0, [0, 1, 2], [10, 11, 12]),  # sample 3 is broken already: never attacked
        ("step", 0, 1, [0, 1, 2]),
        ("step", 0, 2, [0, 2]),  # sample 1 broke at step 1 and left
        ("end", 0, [0, 1, 2], [False, True, True]),
        ("init", 1, [0], [10]),  # the restart runs only on the unbroken sample
        ("step", 1, 1, [0]),
        ("step", 1, 2, [0]),
        ("end", 1, [0], [True]),
        # no third round: nothing is left unbroken
    ]
    assert res.success.all()
    assert res.x_adv.flatten().tolist() == [0.5, 0.5, 0.5, 0.5]


def test_fixed_eps_keeps_the_best_point_of_unbroken_samples() -> None:
    climb = Climb(steps=1, restarts=1)
    res = _attack(climb)
    assert res.success.tolist() == [False, True, False, True]
    # unbroken samples keep their highest-loss point: the last step of the climb
    assert res.x_adv.flatten().tolist() == [-1.5, 0.5, -0.5, 0.5]
    assert [e[0] for e in climb.log] == ["init", "step", "end"]


@dataclass
class Distance:
    x: Tensor


@dataclass(frozen=True)
class Creep(MinimalAttack[Distance]):
    """Round r adds ``sizes[r]`` per step from x0; a row is done at its first success."""

    info = AttackInfo(
        "creep", "test attack: small steps until success", norms=("linf",), minimal=True
    )

    sizes: tuple[float, ...] = (1.0, 0.25)
    steps: int = 4
    log: list[Any] = field(default_factory=list, compare=False)

    def prepare(self, problem: Any) -> tuple[float, ...]:
        return self.sizes

    def rounds(self, context: tuple[float, ...]) -> int:
        return len(context)

    def init(self, rnd: Round) -> tuple[Distance, Evaluation]:
        self.log.append(("init", rnd.index, rnd.local.tolist()))
        return Distance(rnd.problem.x0.clone()), self._evaluate(rnd, rnd.problem.x0.clone())

    def step(self, rnd: Round, state: Distance, k: int) -> Evaluation:
        self.log.append(("step", rnd.index, k, rnd.local.tolist()))
        state.x = state.x + rnd.context[rnd.index]
        return self._evaluate(rnd, state.x)

    def _evaluate(self, rnd: Round, x: Tensor) -> Evaluation:
        p = rnd.problem
        ok = p.successful(p.logits(x))
        return Evaluation(x, (x - p.x0).flatten(), ok, done=ok)

    def end_round(self, rnd: Round, succeeded: Tensor) -> None:
        self.log.append(("end", rnd.index, rnd.local.tolist(), succeeded.tolist()))


def test_minimal_rounds_run_on_every_attacked_sample_and_keep_the_least_distortion() -> None:
    creep = Creep()
    res = _attack(creep, eps=math.inf)
    assert creep.log == [
        ("init", 0, [0, 1, 2]),
        ("step", 0, 1, [0, 1, 2]),  # steps of 1: samples 1, 2, 0 succeed at steps 1, 2, 3
        ("step", 0, 2, [0, 2]),
        ("step", 0, 3, [0]),
        ("end", 0, [0, 1, 2], [True, True, True]),  # no 4th step: every row was done
        ("init", 1, [0, 1, 2]),  # the next round runs on all of them again
        ("step", 1, 1, [0, 1, 2]),
        ("step", 1, 2, [0, 1, 2]),
        ("step", 1, 3, [0, 1, 2]),  # steps of 0.25: sample 1 succeeds at step 2
        ("step", 1, 4, [0, 2]),
        ("end", 1, [0, 1, 2], [False, True, False]),
    ]
    assert res.success.all()
    # the record keeps each sample's least distortion over both rounds
    torch.testing.assert_close(res.distance, torch.tensor([3.0, 0.75, 2.0, 0.0]))


def test_minimal_attack_with_no_success_keeps_x0() -> None:
    creep = Creep(sizes=(0.1,), steps=2)
    res = _attack(creep, eps=math.inf)
    assert res.success.tolist() == [False, False, False, True]
    assert torch.equal(res.x_adv, X0)
