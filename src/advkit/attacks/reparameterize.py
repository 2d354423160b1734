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

g must declare itself non-differentiable (:class:`advkit.traits.Traits`, as advkit's
transforms do; wrap your own preprocessing in ``FunctionTransform``) so that BPDA can cross
it. h must keep the input shape and the box; clean inputs on h's range (h(x0) = x0) keep
h(z) inside the ball. The attack runs on the oracle seen through
:class:`~advkit.access.ReparameterizedView` and :class:`~advkit.access.BPDAView`, at any
access level.

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

from collections.abc import Callable
from dataclasses import dataclass, replace

from torch import Tensor

from advkit.access import BPDAView, ReparameterizedView
from advkit.attacks.adaptive import AttackWrapper
from advkit.attacks.run import Attack
from advkit.engine import Problem

__all__ = ["Reparameterize"]


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
        oracle = problem.oracle.through(ReparameterizedView(self.h)).through(BPDAView())
        z = self.attack.run(replace(problem, oracle=oracle))
        return self.h(z).detach()
