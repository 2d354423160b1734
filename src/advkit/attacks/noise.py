"""Random noise: uniform draws from the threat's ball, label access only.

The weakest attack there is, and a gradient-masking detector: if random points of the
ball break samples a gradient attack left robust, the gradients are lying (Athalye et al.
2018; Carlini et al. 2019, "On evaluating adversarial robustness").

Example:
    >>> import torch, advkit
    >>> from advkit.attacks.noise import RandomNoise
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> res = advkit.attack(model, x, y, advkit.Linf(0.3), RandomNoise(samples=20))
    >>> bool((res.queries <= 21).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.access import Access
from advkit.attacks._scores import cannot_pay, label_success, unqueried
from advkit.engine import AttackInfo, Best, Evaluation, FixedEpsAttack, Problem, Round

__all__ = ["RandomNoise"]


@dataclass(frozen=True)
class RandomNoise(FixedEpsAttack[Tensor]):
    """Up to ``samples`` uniform points of the ball per sample; the first success wins.

    One query for the clean point, then one per draw, only on samples still unbroken
    and within the oracle's query budget. The state is the last draw.

    Args:
        samples: draws per sample (default 100).
    """

    samples: int = 100

    info = AttackInfo(
        "noise", "uniform random points of the ball, 100 per sample (label access)", Access.LABELS
    )

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")

    def begin(self, problem: Problem, context: None) -> Best:
        success = label_success(problem, problem.x0)
        return Best.maximizing(
            problem.x0, success, torch.zeros(len(problem), device=problem.x0.device)
        )

    def iterations(self, rnd: Round) -> int:
        return self.samples

    def init(self, rnd: Round) -> tuple[Tensor, Evaluation]:
        p = rnd.problem
        return p.x0, unqueried(p.x0, cannot_pay(p, 1), minimize=False)

    def step(self, rnd: Round, state: Tensor, k: int) -> Evaluation:
        p = rnd.problem
        x = p.threat.sample(p.x0, p.generators("noise", k))
        success = label_success(p, x)
        return Evaluation(x, torch.zeros(len(p), device=x.device), success, cannot_pay(p, 1))
