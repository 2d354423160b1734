"""Adaptive attacks: BPDA and EOT, wrappers that make any attack see through a defense.

- :class:`BPDA` (Backward Pass Differentiable Approximation, Athalye, Carlini & Wagner
  2018): the forward pass goes through the real transform, the backward pass through a
  differentiable approximation (identity by default; see
  :class:`~advkit.defenses.transforms.InputTransform`).
- :class:`EOT` (Expectation over Transformation, Athalye et al. 2018): every model
  evaluation is averaged over ``samples`` draws of the model's randomness: the attack
  ascends the expected loss (average of the per-draw losses and gradients) and judges
  success on the average logits. Score-based attacks see averaged scores.

Both wrap an attack config and keep its access level; queries and gradient calls are
counted per draw (EOT with 20 samples costs 20 gradient calls per step).

:func:`adapt` chooses the wrappers a model needs; :func:`advkit.evaluate` applies it
automatically.

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

import torch
from torch import Tensor, nn

from advkit.access import ScoreOnly, WhiteBox
from advkit.attacks._engine import Problem
from advkit.defenses.transforms import bpda, is_random, needs_bpda
from advkit.engine import Attack, AttackInfo
from advkit.objectives import Objective

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
    """Run ``attack`` with BPDA on every non-differentiable advkit transform.

    Args:
        attack: the attack to run (any gradient attack).
    """

    attack: Attack

    def run(self, problem: Problem) -> Tensor:
        with bpda():
            return self.attack.run(problem)


class _EOTWhiteBox(WhiteBox):
    """A white-box oracle averaging over ``samples`` forward passes of a random model."""

    def __init__(self, base: WhiteBox, samples: int) -> None:
        super().__init__(base.model, base.budget)
        self.queries, self.gradient_calls = base.queries, base.gradient_calls
        self._checked = base._checked
        self.samples = samples
        self._average = True

    def remaining(self, rows: Tensor) -> Tensor:
        return _remaining_draws(self, self.samples, rows)

    def _forward(self, x: Tensor, rows: Tensor) -> Tensor:
        if not self._average:
            return super()._forward(x, rows)
        n = self.samples
        out = super()._forward(x.repeat(n, *([1] * (x.dim() - 1))), rows.repeat(n))
        return out.reshape(n, x.shape[0], -1).mean(dim=0)

    def value_and_grad(
        self,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        objective: Objective,
        rows: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        n, m = self.samples, x.shape[0]
        self._average = False
        try:
            logits, loss, grad = super().value_and_grad(
                x.repeat(n, *([1] * (x.dim() - 1))),
                y.repeat(n),
                None if target is None else target.repeat(n),
                objective,
                rows.repeat(n),
            )
        finally:
            self._average = True
        return (
            logits.reshape(n, m, -1).mean(dim=0),
            loss.reshape(n, m).mean(dim=0),
            grad.reshape(n, *x.shape).mean(dim=0),
        )


def _remaining_draws(oracle: ScoreOnly, samples: int, rows: Tensor) -> Tensor:
    """Evaluations left per sample when each costs ``samples`` queries."""
    return ScoreOnly.remaining(oracle, rows) // samples


class _EOTScores(ScoreOnly):
    """A score oracle averaging probabilities over ``samples`` draws."""

    def __init__(self, base: ScoreOnly, samples: int) -> None:
        super().__init__(base.model, base.budget, logits=base.expose_logits)
        self.queries, self.gradient_calls = base.queries, base.gradient_calls
        self._checked = base._checked
        self.samples = samples

    def remaining(self, rows: Tensor) -> Tensor:
        return _remaining_draws(self, self.samples, rows)

    @torch.no_grad()
    def scores(self, x: Tensor, rows: Tensor) -> Tensor:
        n = self.samples
        out = self._forward(x.repeat(n, *([1] * (x.dim() - 1))), rows.repeat(n))
        out = out if self.expose_logits else out.softmax(dim=1)
        return out.reshape(n, x.shape[0], -1).mean(dim=0)


@dataclass(frozen=True)
class EOT(AttackWrapper):
    """Run ``attack`` on the expectation over the model's randomness (``samples`` draws).

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
        oracle = problem.oracle
        if isinstance(oracle, WhiteBox):
            wrapped: ScoreOnly = _EOTWhiteBox(oracle, self.samples)
        elif isinstance(oracle, ScoreOnly):
            wrapped = _EOTScores(oracle, self.samples)
        else:
            raise TypeError("EOT needs white-box or score access to average over draws")
        return self.attack.run(replace(problem, oracle=wrapped))


def adapt(model: nn.Module, method: Attack, eot_samples: int = EOT_SAMPLES) -> Attack:
    """``method`` wrapped in what ``model`` needs: BPDA for non-differentiable advkit
    transforms, EOT for random ones (or modules marked random); unchanged otherwise."""
    out = method
    if needs_bpda(model):
        out = cast(Attack, BPDA(out))
    if is_random(model):
        out = cast(Attack, EOT(out, eot_samples))
    return out
