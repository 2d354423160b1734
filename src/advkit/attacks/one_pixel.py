"""One-pixel / few-pixel attack: change at most k pixels, found by differential evolution.

Each candidate changes k pixels of the image: for each pixel a row, a column and a value
per channel (all channels of a pixel change together, as in the paper). A population of
candidates evolves by DE/rand/1 (a child is ``a + F·(b − c)`` for random members a, b, c,
no crossover) and a child replaces its parent when it is at least as fit. Fitness is the
log-probability margin ``log F_y − max_{j≠y} log F_j`` (targeted:
``max_{j≠t} log F_j − log F_t``) when the oracle returns scores, and just adversarial or
not when it returns labels only (then the search is a random search over k-pixel
changes). All candidates of all attacked images are evaluated in *one* model call per
generation; a sample stops as soon as one of its candidates succeeds or its queries
are spent.

Threat model: the attack's own budget is k pixels (an L0 ball: at most k·C changed
input features; ``AttackResult.distances()["l0"]`` reports them). Every candidate is also
projected onto the threat's ball and box before it is queried, so a finite ε in any norm
bounds the changes too; with ``eps=math.inf`` (accepted) pixels may take any value of the
box, as in the paper.

Paper: Su, Vargas & Sakurai, "One pixel attack for fooling deep neural networks", IEEE
Transactions on Evolutionary Computation 2019.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    >>> op = advkit.OnePixel(pixels=3, population=20, generations=5)
    >>> res = advkit.attack(advkit.ScoreOnly(model), x, y, advkit.Linf(math.inf), op)
    >>> bool((res.distances()["l0"] <= 3).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.access import Access, ScoreOnly
from advkit.attacks._engine import BestSoFar, Problem
from advkit.attacks._labels import Labeler
from advkit.attacks._scores import log_probs, score_margin
from advkit.engine import Attack, AttackInfo
from advkit.objectives import is_successful

__all__ = ["OnePixel"]


@dataclass(frozen=True)
class OnePixel(Attack):
    """Few-pixel attack by differential evolution (Su et al. 2019), label or score access.

    Args:
        pixels: k, the number of pixels a candidate changes (default 1).
        population: candidates per image (default 400, the paper's).
        generations: DE generations after the initial population (default 100).
        scale: DE's mutation factor F (default 0.5).

    Queries per sample: 1 (clean) + ``population × (generations + 1)`` at most (the
    oracle's budget stops a sample earlier: a generation runs only if the whole
    population fits). Inputs must be images (N, C, H, W). Needs
    :class:`~advkit.access.LabelOnly`; uses scores when the oracle gives them.
    """

    pixels: int = 1
    population: int = 400
    generations: int = 100
    scale: float = 0.5

    info = AttackInfo(
        "one-pixel",
        "k-pixel (L0) change by differential evolution, label/score, Su 2019",
        Access.LABELS,
        minimal=True,
    )

    def __post_init__(self) -> None:
        if self.pixels < 1 or self.population < 4 or self.generations < 0:
            raise ValueError("need pixels >= 1, population >= 4 and generations >= 0")
        if not 0 < self.scale <= 2:
            raise ValueError(f"scale (DE's F) must be in (0, 2], got {self.scale}")

    def run(self, problem: Problem) -> Tensor:
        x0 = problem.x0
        if x0.dim() != 4:
            raise ValueError(
                f"OnePixel needs image inputs of shape (N, C, H, W), got {tuple(x0.shape)}"
            )
        n, c, h, w = x0.shape
        if self.pixels > h * w:
            raise ValueError(f"pixels={self.pixels} exceeds the {h * w} pixels of an image")
        lab = Labeler(problem, 1 + self.population * (self.generations + 1))
        everyone = torch.arange(n)
        fit0, ok0 = self._fitness(lab, x0, everyone)
        best = BestSoFar(x0, ok0, -fit0)
        gens = problem.generators("population")
        lo, hi = problem.threat.lo, problem.threat.hi
        low = torch.tensor([0.0, 0.0] + [lo] * c)
        high = torch.tensor([h - 1e-6, w - 1e-6] + [hi] * c)
        k, pop = self.pixels, self.population
        # (n, pop, k, 2 + C): row, column, channel values
        cand = torch.stack(
            [low + (high - low) * torch.rand(pop, k, 2 + c, generator=g) for g in gens]
        )
        fit = torch.full((n, pop), torch.inf, dtype=torch.float64)
        act = (~best.success).nonzero().squeeze(1)
        for gen in range(self.generations + 1):
            act = act[(~best.success[act]) & (lab.left[act] >= pop)]
            if act.numel() == 0:
                break
            if gen == 0:
                trial = cand[act]
            else:
                picks = torch.stack(
                    [torch.randint(0, pop, (pop, 3), generator=gens[i]) for i in act.tolist()]
                )
                par = cand[act]
                take = par[torch.arange(act.numel())[:, None, None], picks]
                trial = take[:, :, 0] + self.scale * (take[:, :, 1] - take[:, :, 2])
                trial = torch.maximum(torch.minimum(trial, high), low)
            xs = self._apply(problem, trial, act)
            f, ok = self._fitness(lab, xs.flatten(0, 1), act.repeat_interleave(pop))
            f, ok = f.reshape(-1, pop), ok.reshape(-1, pop)
            better = f <= fit[act]
            cand[act] = torch.where(better[:, :, None, None], trial, cand[act])
            fit[act] = torch.where(better, f, fit[act])
            # each sample's best candidate of this generation (a success first)
            score = torch.where(ok, -torch.inf, f)
            j = score.argmin(dim=1)
            rows = torch.arange(act.numel())
            best.update(act, xs[rows, j], -f[rows, j], ok[rows, j])
        return best.x

    def _apply(self, problem: Problem, cand: Tensor, act: Tensor) -> Tensor:
        """The perturbed images (m, pop, C, H, W) of candidates (m, pop, k, 2 + C)."""
        x0 = problem.x0[act]
        m, pop = cand.shape[:2]
        _, c, h, w = x0.shape
        xs = x0[:, None].expand(m, pop, c, h, w).clone()
        r = cand[..., 0].long().clamp(0, h - 1)
        q = cand[..., 1].long().clamp(0, w - 1)
        flat = xs.reshape(m, pop, c, h * w)
        where = (r * w + q)[:, :, None, :].expand(m, pop, c, self.pixels)
        flat.scatter_(3, where, cand[..., 2:].transpose(2, 3).to(x0.dtype))
        xs = flat.reshape(m, pop, c, h, w)
        x0r = x0.repeat_interleave(pop, dim=0)
        sub = problem.subset(act.repeat_interleave(pop))
        return sub.threat.project(xs.flatten(0, 1), x0r).reshape(m, pop, c, h, w)

    def _fitness(self, lab: Labeler, x: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
        """(fitness to minimize, success) of the rows of x for samples ``pos``."""
        p = lab.problem
        if isinstance(p.oracle, ScoreOnly):
            counts = torch.bincount(pos, minlength=len(lab.left))
            if (counts > lab.left).any():
                raise RuntimeError("internal error: a query beyond the sample's cap")
            lab.left = lab.left - counts
            logp = log_probs(p, x, p.rows[pos])
            tgt = None if p.target is None else p.target[pos]
            m = score_margin(logp, p.y[pos], tgt)
            return m.double(), is_successful(logp, p.y[pos], tgt)
        ok = lab.adversarial(x, pos)
        return (~ok).double(), ok
