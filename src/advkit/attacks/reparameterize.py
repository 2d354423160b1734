"""Reparameterization: attack a pre-processing defense through a change of variables.

Athalye, Carlini & Wagner (2018, "Obfuscated gradients give a false sense of security",
§4.3): when a defense first maps its input through g (a purifier, a projection onto
"clean-looking" images) whose gradients are useless, but some differentiable h maps onto
the points g leaves unchanged, g(h(z)) = h(z), then the defended model f∘g agrees with f
on every h(z). The attack searches over z for the model z ↦ f(g(h(z))), whose gradient
along that set is the gradient of f∘h: g is crossed by BPDA with the identity, which is
exact there because g is the identity on the range of h. The returned point is h(z*),
projected onto the threat's ball and box, and judged on the real defended model like every
advkit result.

g must be an advkit transform (:mod:`advkit.defenses.transforms`; wrap your own
preprocessing in ``FunctionTransform``) so that BPDA can cross it. h must keep the input
shape and the box; clean inputs on h's range (h(x0) = x0) keep h(z) inside the ball.

Example (a 2×2 block-median purifier; block means map onto its fixed points):
    >>> import torch, advkit
    >>> from torch.nn import functional as F
    >>> from advkit.attacks.reparameterize import Reparameterize
    >>> from advkit.defenses.transforms import FunctionTransform
    >>> def blocks(z):  # h: 2×2 block means
    ...     return F.interpolate(F.avg_pool2d(z, 2), scale_factor=2.0, mode="nearest")
    >>> def block_median(x):  # g: 2×2 block medians, declared non-differentiable
    ...     n, c, hh, ww = x.shape
    ...     b = x.reshape(n, c, hh // 2, 2, ww // 2, 2).transpose(3, 4)
    ...     b = b.reshape(n, c, hh // 2, ww // 2, 4)
    ...     return F.interpolate(b.median(-1).values, scale_factor=2.0, mode="nearest")
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    >>> model = torch.nn.Sequential(FunctionTransform(block_median), net).eval()
    >>> x = blocks(torch.rand(4, 1, 8, 8))
    >>> y = model(x).argmax(1)
    >>> res = advkit.attack(model, x, y, advkit.Linf(0.3), Reparameterize(advkit.PGD(), blocks))
    >>> bool(torch.allclose(blocks(res.x_adv), res.x_adv))
    True
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace

from torch import Tensor

from advkit.access import LabelOnly, ScoreOnly, WhiteBox
from advkit.attacks._engine import Problem
from advkit.attacks.adaptive import AttackWrapper
from advkit.attacks.run import Attack
from advkit.defenses.transforms import bpda

__all__ = ["Reparameterize"]


class _Reparam:
    """Mixin: every model evaluation of the oracle runs at h(z) instead of z."""

    h: Callable[[Tensor], Tensor]

    def _forward(self, x: Tensor, rows: Tensor) -> Tensor:
        return super()._forward(self.h(x), rows)  # type: ignore[misc]


class _ReparamLabels(_Reparam, LabelOnly):
    pass


class _ReparamScores(_Reparam, ScoreOnly):
    pass


class _ReparamWhiteBox(_Reparam, WhiteBox):
    pass


def _reparameterized(oracle: LabelOnly, h: Callable[[Tensor], Tensor]) -> LabelOnly:
    """A view of ``oracle`` evaluating at h(z), sharing its counters and budget."""
    kind = (
        _ReparamWhiteBox
        if isinstance(oracle, WhiteBox)
        else _ReparamScores
        if isinstance(oracle, ScoreOnly)
        else _ReparamLabels
    )
    view = copy.copy(oracle)  # shallow: the counter tensors are shared
    view.__class__ = kind
    view.h = h  # type: ignore[attr-defined]
    return view


@dataclass(frozen=True)
class Reparameterize(AttackWrapper):
    """Run ``attack`` over z with the input x = h(z), BPDA crossing the defense's transforms.

    Args:
        attack: the attack to run in z-space (any access level).
        h: a differentiable map onto the defense's fixed points, g(h(z)) = h(z), with the
            input's shape; e.g. a generator's output or a smoothing operator.
    """

    attack: Attack
    h: Callable[[Tensor], Tensor]

    def run(self, problem: Problem) -> Tensor:
        oracle = problem.oracle
        assert isinstance(oracle, LabelOnly)
        with bpda():
            z = self.attack.run(replace(problem, oracle=_reparameterized(oracle, self.h)))
        return self.h(z).detach()
