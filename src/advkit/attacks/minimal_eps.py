"""Minimal-ε search: turn a fixed-ε attack (FGM, I-FGM, PGD, ...) into a minimal-distortion one.

Problem: the smallest ε at which a fixed-ε attack still succeeds, per sample. The attack is
first run at the largest ε allowed (the threat's ε, or the diameter of the input box in the
threat's norm when ε = inf); samples it cannot break there are given up. For the others ε
is bisected geometrically between that value and ``min_ratio`` times it, each step running
the attack again only on the samples being searched, each with its own ε. Every sample keeps
its least-distortion success. Sharma (2018) searches FGM/I-FGM's ε over a grid the same way.

Threat model: the threat's norm is both the attack's geometry and the reported distance.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    >>> method = advkit.MinimalEps(advkit.BIM(steps=10), search_steps=6)
    >>> res = advkit.attack(model, x, y, advkit.Linf(math.inf), method)
    >>> bool((res.distance <= 1).all())
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from advkit.access import Access
from advkit.attacks.gradient import BIM, FGM, PGD
from advkit.engine import Attack, AttackInfo, Evaluation, MinimalAttack, Preset, Problem, Round

__all__ = ["PRESETS", "MinimalEps"]


def _diameter(problem: Problem) -> float:
    """The largest distance in the threat's norm between two points of the input box."""
    span = problem.threat.hi - problem.threat.lo
    d = problem.x0[0].numel()
    p = problem.threat.p
    if p == 0:  # L0: every feature
        return float(d)
    return span if p == math.inf else span * d ** (1.0 / p)


@dataclass
class Bracket:
    """Each searched sample's ε bracket (success at ``upper``; failure or the floor below)."""

    lower: Tensor
    upper: Tensor


@dataclass(frozen=True)
class MinimalEps(MinimalAttack[Bracket]):
    """Per-sample geometric bisection on ε around a fixed-ε attack.

    One round of the driver is the search: ``init`` runs the attack at the largest ε, each
    step at the geometric midpoint of every remaining sample's :class:`Bracket`.

    Args:
        attack: the fixed-ε attack (default ``BIM()``, i.e. I-FGM).
        search_steps: bisection steps after the first run (default 10: ε to within about
            1% when ``min_ratio`` is 1e-4).
        min_ratio: the smallest ε tried, relative to the largest (default 1e-4).

    Gradient calls per sample: at most ``(search_steps + 1) ×`` the attack's.
    """

    attack: Attack = field(default_factory=BIM)
    search_steps: int = 10
    min_ratio: float = 1e-4

    info = AttackInfo(
        "minimal-eps",
        "minimal ε: a fixed-ε attack with a per-sample bisection on ε",
        minimal=True,
        listed=False,
    )

    def __post_init__(self) -> None:
        if self.search_steps < 0:
            raise ValueError(f"search_steps must be >= 0, got {self.search_steps}")
        if not 0 < self.min_ratio < 1:
            raise ValueError(f"min_ratio must be in (0, 1), got {self.min_ratio}")
        if self.attack.describe().minimal:
            raise ValueError(
                f"{type(self.attack).__name__} is already a minimal-distortion attack; "
                "MinimalEps wraps fixed-ε attacks such as FGM, BIM or PGD"
            )

    def describe(self) -> AttackInfo:
        """The inner attack's norms; white-box access, since each run's success is judged
        on the logits (whatever the inner attack needs)."""
        inner = self.attack.describe()
        access = max(inner.access, Access.WHITE_BOX)
        return replace(self.info, access=access, norms=inner.norms)

    def iterations(self, rnd: Round) -> int:
        return self.search_steps

    def init(self, rnd: Round) -> tuple[Bracket, Evaluation]:
        p = rnd.problem
        upper = p.threat.eps_vector(len(p), p.x0.device).double()
        upper = upper.clamp_max(_diameter(p))
        ev = self._try(p, upper)
        # samples the attack cannot break at the largest ε are given up
        return Bracket(upper * self.min_ratio, upper), replace(ev, done=~ev.success)

    def step(self, rnd: Round, state: Bracket, k: int) -> Evaluation:
        mid = (state.lower * state.upper).sqrt()
        ev = self._try(rnd.problem, mid)
        state.upper = torch.where(ev.success, mid, state.upper)
        state.lower = torch.where(ev.success, state.lower, mid)
        return ev

    def _try(self, p: Problem, eps: Tensor) -> Evaluation:
        """The attack run on every row of ``p`` with per-sample ``eps``, evaluated."""
        sub = replace(p, threat=p.threat.with_eps(eps.to(p.x0.dtype)))
        x = sub.threat.project(self.attack.run(sub).detach(), sub.x0)
        return Evaluation(x, sub.threat.norm(x - sub.x0), sub.successful(sub.logits(x)))


PRESETS = (
    Preset(
        "fgm-min",
        "minimal ε: FGM with a per-sample bisection on ε (11 runs)",
        MinimalEps,
        {"attack": FGM()},
    ),
    Preset(
        "bim-min",
        "minimal ε: I-FGM (BIM, 50 steps) with a per-sample bisection on ε",
        MinimalEps,
        {"attack": BIM()},
    ),
    Preset(
        "pgd-min",
        "minimal ε: PGD (50 steps × 3) with a per-sample bisection on ε",
        MinimalEps,
        {"attack": PGD()},
    ),
)
"""Named configurations in the attack table."""
