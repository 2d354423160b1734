"""One-pixel / few-pixel attack: change at most k pixels, found by differential evolution.

Each candidate changes k pixels of the image: for each pixel a row, a column and a value
per channel (all channels of a pixel change together, as in the paper). A population of
candidates evolves by DE/rand/1 (a child is ``a + F·(b − c)`` for random members a, b, c,
no crossover) and a child replaces its parent when it is at least as fit. Fitness is the
log-probability margin ``log F_y − max_{j≠y} log F_j`` (targeted:
``max_{j≠t} log F_j − log F_t``) when the oracle returns scores, and just adversarial or
not when it returns labels only (then the search is a random search over k-pixel
changes). All candidates of all attacked images are evaluated in *one* model call per
generation; a sample stops as soon as one of its candidates succeeds (that candidate
is returned) or its queries are spent (x0 is returned, as by every minimal attack).

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
from advkit.attacks._scores import cannot_pay, label_success, score_margin, unqueried
from advkit.engine import AttackInfo, Best, Evaluation, MinimalAttack, Problem, Round

__all__ = ["OnePixel"]


@dataclass
class Population:
    """The candidates of each attacked image (M, pop, k, 2 + C: row, column, channel
    values), their fitness (M, pop), and the images' generators by position."""

    cand: Tensor
    fit: Tensor
    gens: dict[int, torch.Generator]


@dataclass(frozen=True)
class OnePixel(MinimalAttack[Population]):
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

    def prepare(self, problem: Problem) -> None:
        x0 = problem.x0
        if x0.dim() != 4:
            raise ValueError(
                f"OnePixel needs image inputs of shape (N, C, H, W), got {tuple(x0.shape)}"
            )
        h, w = x0.shape[2:]
        if self.pixels > h * w:
            raise ValueError(f"pixels={self.pixels} exceeds the {h * w} pixels of an image")

    def begin(self, problem: Problem, context: None) -> Best:
        _, success = self._fitness(problem, problem.x0, 1)
        return Best.minimizing(problem.x0, success)

    def iterations(self, rnd: Round) -> int:
        return self.generations + 1

    def init(self, rnd: Round) -> tuple[Population, Evaluation]:
        p = rnd.problem
        low, high = self._bounds(p)
        shape = (self.population, self.pixels, len(low))
        gens = p.generators("population")
        u = torch.stack([torch.rand(shape, generator=g, device=g.device) for g in gens])
        cand = low + (high - low) * u.to(low.device)
        fit = torch.full(cand.shape[:2], torch.inf, dtype=torch.float64, device=cand.device)
        state = Population(cand, fit, dict(zip(rnd.local.tolist(), gens, strict=True)))
        return state, unqueried(p.x0, cannot_pay(p, self.population), minimize=True)

    def step(self, rnd: Round, s: Population, k: int) -> Evaluation:
        """Generation k − 1: query the trials, keep those at least as fit as their parents,
        and report each image's best trial (a success first)."""
        p, pop = rnd.problem, self.population
        trial = s.cand if k == 1 else self._mutants(rnd, s)
        xs = self._apply(p, trial)
        f, ok = self._fitness(p, xs.flatten(0, 1), pop)
        f, ok = f.reshape(-1, pop), ok.reshape(-1, pop)
        better = f <= s.fit
        s.cand = torch.where(better[:, :, None, None], trial, s.cand)
        s.fit = torch.where(better, f, s.fit)
        j = torch.where(ok, -torch.inf, f).argmin(dim=1)
        rows = torch.arange(len(p), device=xs.device)
        x, success = xs[rows, j], ok[rows, j]
        done = success | cannot_pay(p, pop)
        return Evaluation(x, p.threat.norm(x - p.x0), success, done)

    def _bounds(self, p: Problem) -> tuple[Tensor, Tensor]:
        """The box of a pixel's (row, column, channel values)."""
        _, c, h, w = p.x0.shape
        lo, hi = p.threat.lo, p.threat.hi
        low = torch.tensor([0.0, 0.0] + [lo] * c, device=p.x0.device)
        return low, torch.tensor([h - 1e-6, w - 1e-6] + [hi] * c, device=p.x0.device)

    def _mutants(self, rnd: Round, s: Population) -> Tensor:
        """DE/rand/1: a + F·(b − c) for random members a, b, c, clipped to the bounds."""
        pop = self.population
        gens = [s.gens[i] for i in rnd.local.tolist()]
        draws = [torch.randint(0, pop, (pop, 3), generator=g, device=g.device) for g in gens]
        picks = torch.stack(draws).to(s.cand.device)
        take = s.cand[torch.arange(len(gens), device=picks.device)[:, None, None], picks]
        trial = take[:, :, 0] + self.scale * (take[:, :, 1] - take[:, :, 2])
        low, high = self._bounds(rnd.problem)
        return torch.maximum(torch.minimum(trial, high), low)

    def _apply(self, problem: Problem, cand: Tensor) -> Tensor:
        """The perturbed images (M, pop, C, H, W) of candidates (M, pop, k, 2 + C),
        projected onto the threat's ball and box."""
        x0 = problem.x0
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
        sub = problem.subset(torch.arange(m).repeat_interleave(pop))
        return sub.threat.project(xs.flatten(0, 1), x0r).reshape(m, pop, c, h, w)

    def _fitness(self, problem: Problem, x: Tensor, per_sample: int) -> tuple[Tensor, Tensor]:
        """(fitness to minimize, success) of ``per_sample`` rows of x per sample: the
        margin with scores, 1 − success with labels only."""
        if isinstance(problem.oracle, ScoreOnly):
            m, ok = score_margin(problem, x, per_sample)
            return m.double(), ok
        ok = label_success(problem, x, per_sample)
        return (~ok).double(), ok
