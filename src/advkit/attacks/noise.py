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

from torch import Tensor

from advkit.access import Access, LabelOnly
from advkit.attacks._engine import Problem
from advkit.engine import Attack, AttackInfo

__all__ = ["RandomNoise"]


@dataclass(frozen=True)
class RandomNoise(Attack):
    """Up to ``samples`` uniform points of the ball per sample; the first success wins.

    One query for the clean point, then one per draw, only on samples still unbroken
    and within the oracle's query budget.

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

    def run(self, problem: Problem) -> Tensor:
        oracle = problem.oracle
        assert isinstance(oracle, LabelOnly)
        goal = problem.target

        def broken(x: Tensor, p: Problem) -> Tensor:
            pred = oracle.labels(x, p.rows)
            want = p.y if goal is None else p.target
            assert want is not None
            return pred != want if goal is None else pred == want

        best = problem.x0.clone()
        done = broken(problem.x0, problem)
        gens = problem.generators("noise")
        for _ in range(self.samples):
            room = oracle.remaining(problem.rows) >= 1
            local = (~done & room).nonzero().squeeze(1)
            if local.numel() == 0:
                break
            sub = problem.subset(local)
            x = sub.threat.sample(sub.x0, [gens[i] for i in local.tolist()])
            hit = broken(x, sub)
            idx = local[hit]
            best[idx] = x[hit]
            done[idx] = True
        return best
