"""The attack base class: a frozen configuration with declared metadata and one ``run``.

Attacks are frozen dataclasses with no model inside; :func:`advkit.attack` builds the
:class:`~advkit.engine.Problem` and calls ``run``. A concrete attack declares its
:class:`~advkit.engine.info.AttackInfo` as the class attribute ``info``, from which the
attack table is built. Attacks built from a loop subclass
:class:`~advkit.engine.FixedEpsAttack` or :class:`~advkit.engine.MinimalAttack` instead of
writing ``run``; wrappers that run another attack differently override ``describe``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch import Tensor

from advkit.engine.info import AttackInfo
from advkit.engine.outcome import Outcome
from advkit.engine.problem import Problem

__all__ = ["Attack"]


class Attack(ABC):
    """Base of every attack configuration."""

    info: ClassVar[AttackInfo]

    def describe(self) -> AttackInfo:
        """This configuration's metadata (wrappers derive theirs from the attack they run)."""
        return self.info

    @abstractmethod
    def run(self, problem: Problem) -> Tensor:
        """The adversarial points (N, ...) for the problem's rows; the caller projects them
        onto the threat's ball and box and re-checks success."""

    def solve(self, problem: Problem) -> Outcome:
        """The adversarial points with the plain model's logits where the attack knows them
        (default: none, and the caller evaluates every point again)."""
        return Outcome(self.run(problem))
