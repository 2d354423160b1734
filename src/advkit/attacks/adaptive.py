"""Adaptive attacks: BPDA and EOT, wrappers that make any attack see through a defense.

- :class:`BPDA` (Backward Pass Differentiable Approximation, Athalye, Carlini & Wagner
  2018): the forward pass goes through the real transform, the backward pass through a
  differentiable approximation the layer declares (identity by default; see
  :mod:`advkit.traits`).
- :class:`EOT` (Expectation over Transformation, Athalye et al. 2018): every model
  evaluation is averaged over ``samples`` draws of the model's randomness: the attack
  ascends the expected loss (average of the per-draw losses and gradients) and judges
  success on the average logits. Score-based attacks see averaged scores.

Both wrap an attack config and keep its access level; they run it on the oracle seen
through a view (:class:`~advkit.access.BPDAView`, :class:`~advkit.access.EOTView`).
Queries and gradient calls are counted per draw (EOT with 20 samples costs 20 gradient
calls per step).

:func:`adapt` chooses the wrappers a model needs from its declared traits;
:func:`advkit.evaluate` applies it automatically.

Example:
    >>> import torch, advkit
    >>> from advkit.attacks.adaptive import BPDA
    >>> from advkit.defenses.transforms import BitDepth
    >>> model = torch.nn.Sequential(BitDepth(3), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> res = advkit.attack(model.eval(), x, y, advkit.Linf(0.3), BPDA(advkit.PGD(steps=10)))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

from torch import Tensor, nn

from advkit.access import BPDAView, EOTView, ScoreOnly
from advkit.engine import Attack, AttackInfo, Problem
from advkit.traits import is_random, needs_bpda

__all__ = ["BPDA", "EOT", "EOT_SAMPLES", "AttackWrapper", "adapt"]

EOT_SAMPLES = 20
"""Default draws per EOT evaluation (AutoAttack uses 20 for randomized defenses)."""


class AttackWrapper(Attack):
    """Base of attacks that run another attack (``self.attack``) differently: they keep its
    metadata (access level, norms, minimal or not)."""

    attack: Attack

    def describe(self) -> AttackInfo:
        return self.attack.describe()


@dataclass(frozen=True)
class BPDA(AttackWrapper):
    """Run ``attack`` with BPDA on every non-differentiable layer of the model.

    Args:
        attack: the attack to run (any gradient attack).
    """

    attack: Attack

    def run(self, problem: Problem) -> Tensor:
        oracle = problem.oracle.through(BPDAView())
        return self.attack.run(replace(problem, oracle=oracle))


@dataclass(frozen=True)
class EOT(AttackWrapper):
    """Run ``attack`` on the expectation over the model's randomness (``samples`` draws).

    White-box attacks ascend the average of the per-draw losses and gradients and judge
    success on the average logits; score-based attacks see averaged scores.

    Args:
        attack: the attack to run.
        samples: draws per evaluation (default 20, as AutoAttack's version for
            randomized defenses).
    """

    attack: Attack
    samples: int = EOT_SAMPLES

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")

    def run(self, problem: Problem) -> Tensor:
        if not isinstance(problem.oracle, ScoreOnly):
            raise TypeError("EOT needs white-box or score access to average over draws")
        oracle = problem.oracle.through(EOTView(self.samples))
        return self.attack.run(replace(problem, oracle=oracle))


def adapt(model: nn.Module, method: Attack, eot_samples: int = EOT_SAMPLES) -> Attack:
    """``method`` wrapped in what ``model`` needs: BPDA for non-differentiable layers, EOT
    for random ones (or modules marked random); unchanged otherwise. An ``EOT`` method
    (the ``rand`` suite's) keeps its own draws, with BPDA inside it where needed."""
    given = method.samples if isinstance(method, EOT) else None
    out = method.attack if isinstance(method, EOT) else method
    if needs_bpda(model):
        out = cast(Attack, BPDA(out))
    if given is not None or is_random(model):
        out = cast(Attack, EOT(out, eot_samples if given is None else given))
    return out
