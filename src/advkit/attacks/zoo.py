"""ZOO: zeroth-order optimization, a score-only minimal-L2 attack.

Minimizes C&W's objective ``‖x − x0‖₂² + c·f(x)`` with ZOO's loss on log-probabilities,
``f(x) = max(log F(x)_y − max_{i≠y} log F(x)_i, −κ)`` (targeted:
``max(max_{i≠t} log F(x)_i − log F(x)_t, −κ)``), using only the model's scores. Each
iteration picks B coordinates per image and estimates the objective's gradient and
curvature along each by symmetric differences,

    ĝ_i = (F(y + h e_i) − F(y − h e_i)) / 2h,   ĥ_i = (F(y + h e_i) − 2F(y) + F(y − h e_i)) / h²,

with one shared F(y): 2B+1 queries per image per iteration, evaluated for all attacked
images in *one* model call. The chosen coordinates then take a coordinate-wise Adam step
(ZOO-Adam) or a Newton step −η ĝ/ĥ (−η ĝ when ĥ ≤ 0; ZOO-Newton).

For large inputs the attack variable y can live in a smaller space, x = x0 + D(y) with D
bilinear upscaling (attack-space dimension reduction); ``attack_sizes`` with ``grow_at``
grows that space on a schedule carrying y over (hierarchical attack); ``importance``
samples coordinates with probabilities from the max-pooled |y| over an 8×8 grid of
regions, refreshed every ``importance_every`` iterations. The Adam state of an image is
reset when its first success is found. The constant c is searched per sample (9 steps
from 0.01: ×10 until success, then bisection); a sample's round stops early when its
objective has not decreased for ``patience`` iterations. Under a query budget, each
value of c may spend an equal share of the queries left when it starts (what a round
leaves unspent goes to the later ones), so the whole search on c runs within the budget.
Pixels are kept in the box by projection (no tanh change of variables).

Paper: Chen, Zhang, Sharma, Yi & Hsieh, "ZOO: Zeroth Order Optimization based Black-box
Attacks to Deep Neural Networks without Training Substitute Models", AISec 2017.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    >>> zoo = advkit.ZOO(steps=50, search_steps=2)
    >>> res = advkit.attack(advkit.ScoreOnly(model), x, y, advkit.L2(math.inf), zoo)
    >>> res.x_adv.shape
    torch.Size([2, 1, 4, 4])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from advkit.access import Access
from advkit.attacks._scores import score_margin, unqueried
from advkit.attacks._search_on_c import check_search
from advkit.engine import (
    Adam,
    AttackInfo,
    Best,
    ConstSearch,
    Evaluation,
    MinimalAttack,
    Problem,
    Round,
)

__all__ = ["ZOO", "coordinate_derivatives"]


def coordinate_derivatives(f0: Tensor, fp: Tensor, fm: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """Symmetric-difference gradient and curvature along coordinates, from the objective
    at y (``f0``, broadcastable) and at y ± h e_i (``fp``, ``fm``): errors are O(h²)."""
    return (fp - fm) / (2 * h), (fp - 2 * f0 + fm) / h**2


def _lift(ys: Tensor, x0: Tensor) -> Tensor:
    """δ = D(y) for rows of y (R, *space) into x's shape (R, *x0.shape[1:])."""
    if ys.shape[1:] == x0.shape[1:]:
        return ys
    return F.interpolate(ys, size=tuple(x0.shape[2:]), mode="bilinear", align_corners=False)


def _probabilities(y: Tensor) -> Tensor:
    """Importance-sampling probabilities (n, m) from max-pooled |y| (8×8 regions)."""
    n = y.shape[0]
    if y.dim() != 4:
        return torch.full((n, y[0].numel()), 1.0 / y[0].numel(), device=y.device)
    k = max(y.shape[-1] // 8, 1)
    pooled = F.max_pool2d(y.abs(), k, stride=k, ceil_mode=True)
    up = F.interpolate(pooled, size=tuple(y.shape[-2:]), mode="nearest").flatten(1)
    total = up.sum(dim=1, keepdim=True)
    uniform = torch.full_like(up, 1.0 / up.shape[1])
    return torch.where(total > 0, up / total.clamp_min(1e-30), uniform)


@dataclass(frozen=True)
class ZooRun:
    """The run-wide context: the search on c and which samples a success was found for
    (each sample's Adam restarts once, at its first success of the run)."""

    search: ConstSearch
    found: Tensor


@dataclass
class ZooState:
    """One round at fixed c: the attack variable y (M, m) flattened from the attack space
    ``space``, the coordinate Adam (None for Newton), each row's c, lowest objective and
    iterations since it fell (``patience``), the importance-sampling probabilities, the
    coordinate generators by the samples' positions in the problem, and the queries each
    row keeps for the later rounds (its budget's share of the search on c)."""

    y: Tensor
    adam: Adam | None
    c: Tensor
    best: Tensor
    stale: Tensor
    probs: Tensor | None
    gens: dict[int, torch.Generator]
    space: tuple[int, ...]
    reserve: Tensor


@dataclass(frozen=True)
class ZOO(MinimalAttack[ZooState]):
    """ZOO-Adam / ZOO-Newton (Chen et al. 2017), minimal L2, score-only.

    Args:
        solver: ``"adam"`` (coordinate-wise Adam) or ``"newton"`` (coordinate Newton).
        steps: iterations per value of c (default 1000; the paper uses 3000 on MNIST).
        search_steps: values of c tried per sample (default 9).
        initial_const: first c (default 0.01).
        coordinates: coordinates B estimated and updated per iteration (default 128).
        h: finite-difference step (default 1e-4).
        lr: step size η (default 0.01).
        beta1, beta2: Adam's decay rates (default 0.9, 0.999).
        kappa: confidence κ ≥ 0 of the loss (default 0).
        patience: stop a sample's round when its objective has not decreased for this many
            iterations (default 100; 0 disables).
        attack_sizes: side lengths of the attack space, e.g. ``(32, 64, 128)``; empty (the
            default) optimizes every input coordinate. Needs (N, C, H, W) images.
        grow_at: iterations (within a round) at which the next attack size starts; one
            fewer than ``attack_sizes``.
        importance: sample coordinates by importance (default False: uniformly).
        importance_every: iterations between refreshes of the sampling probabilities.

    Queries per sample: 1 + at most ``search_steps × steps × (2B+1)``. Under the oracle's
    query budget, the round at each c stops when it has spent its share, the queries left
    divided by the values of c still to try, so every step of the search runs and the
    best success of all of them is returned. Use a threat such as ``L2(math.inf)`` (or a
    cap on ε).
    """

    solver: str = "adam"
    steps: int = 1000
    search_steps: int = 9
    initial_const: float = 0.01
    coordinates: int = 128
    h: float = 1e-4
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    kappa: float = 0.0
    patience: int = 100
    attack_sizes: tuple[int, ...] = ()
    grow_at: tuple[int, ...] = ()
    importance: bool = False
    importance_every: int = 10

    info = AttackInfo(
        "zoo",
        "minimal L2, score-only: ZOO-Adam, 128 coordinates/iter, search on c, 2017",
        Access.SCORES,
        minimal=True,
    )

    def __post_init__(self) -> None:
        check_search(self.search_steps, self.steps, self.initial_const)
        if self.solver not in ("adam", "newton"):
            raise ValueError(f"solver must be 'adam' or 'newton', got {self.solver!r}")
        if self.coordinates < 1:
            raise ValueError(f"coordinates must be >= 1, got {self.coordinates}")
        if not (self.h > 0 and self.lr > 0):
            raise ValueError("h and lr must be > 0")
        if self.kappa < 0:
            raise ValueError(f"confidence kappa must be >= 0, got {self.kappa}")
        if len(self.grow_at) != max(len(self.attack_sizes) - 1, 0):
            raise ValueError("grow_at needs one iteration per attack size after the first")
        if list(self.grow_at) != sorted(set(self.grow_at)) or any(g < 1 for g in self.grow_at):
            raise ValueError("grow_at must be increasing iterations >= 1")
        if self.importance_every < 1:
            raise ValueError("importance_every must be >= 1")

    def prepare(self, problem: Problem) -> ZooRun:
        if self.attack_sizes and problem.x0.dim() != 4:
            raise ValueError("attack_sizes needs image inputs of shape (N, C, H, W)")
        n = len(problem)
        found = torch.zeros(n, dtype=torch.bool, device=problem.x0.device)
        return ZooRun(ConstSearch.start(n, self.initial_const), found)

    def begin(self, problem: Problem, context: ZooRun) -> Best:
        _, success = score_margin(problem, problem.x0)
        return Best.minimizing(problem.x0, success)

    def rounds(self, context: ZooRun) -> int:
        return self.search_steps

    def end_round(self, rnd: Round, succeeded: Tensor) -> None:
        rnd.context.search.update(rnd.local, succeeded)

    def init(self, rnd: Round) -> tuple[ZooState, Evaluation]:
        p, n = rnd.problem, len(rnd.problem)
        space = self._space(p.x0, 0)
        y = torch.zeros(n, math.prod(space), dtype=p.x0.dtype, device=p.x0.device)
        adam = Adam.like(y, self.lr, self.beta1, self.beta2) if self.solver == "adam" else None
        c = rnd.context.search.c[rnd.local.cpu()].to(p.x0)
        best = torch.full((n,), torch.inf, dtype=torch.float64, device=p.x0.device)
        gens = p.generators("coordinates", rnd.index)
        by_row = dict(zip(rnd.local.tolist(), gens, strict=True))
        stale = torch.zeros(n, dtype=torch.long, device=p.x0.device)
        reserve = self._reserve(p, self.search_steps - rnd.index)
        state = ZooState(y, adam, c, best, stale, None, by_row, space, reserve)
        return state, unqueried(p.x0, self._exhausted(p, state, 0), minimize=True)

    def step(self, rnd: Round, s: ZooState, k: int) -> Evaluation:
        """Iteration k − 1: probe B coordinates around y (recording y's point), restart
        Adam at a sample's first success, and step along the coordinates."""
        p, found = rnd.problem, rnd.context.found
        space = self._space(p.x0, k - 1)
        if space != s.space:
            self._grow(s, space)
        idx = self._coordinates(rnd, s, k - 1)
        x, dist2, success, obj = self._probe(p, s, idx)
        first = success & ~found[rnd.local]
        if s.adam is not None and bool(first.any()):
            s.adam.reset(first)
        found[rnd.local[first]] = True
        self._descend(p, s, idx, obj)
        done = self._stalled(s, obj[:, 0]) | self._exhausted(p, s, k)
        return Evaluation(x, dist2, success, done)

    @staticmethod
    def _reserve(p: Problem, rounds_left: int) -> Tensor:
        """Queries each row keeps for the rounds after this one: a budget left for
        ``rounds_left`` values of c pays for this one only its equal share, so a first c
        too small to move cannot spend what the search needs (nothing without a budget)."""
        left = p.oracle.remaining(p.rows)
        return left - left // rounds_left

    def _exhausted(self, p: Problem, s: ZooState, it: int) -> Tensor:
        """Rows whose share of the budget cannot pay for iteration ``it``."""
        return p.oracle.remaining(p.rows) - s.reserve < self._probes(p.x0, it)

    def _space(self, x0: Tensor, it: int) -> tuple[int, ...]:
        """The attack space's shape per sample at iteration ``it`` (hierarchical growth)."""
        if not self.attack_sizes:
            return tuple(x0.shape[1:])
        size = self.attack_sizes[sum(g <= it for g in self.grow_at)]
        return (x0.shape[1], size, size)

    def _probes(self, x0: Tensor, it: int) -> int:
        """Queries per sample of iteration ``it``: 2B + 1."""
        m = math.prod(self._space(x0, it))
        return 2 * min(self.coordinates, m) + 1

    def _grow(self, s: ZooState, space: tuple[int, ...]) -> None:
        """Move to the next attack space, carrying y over (bilinear), with a fresh Adam."""
        y = s.y.reshape(-1, *s.space)
        s.y = F.interpolate(y, size=space[1:], mode="bilinear", align_corners=False).flatten(1)
        s.space, s.probs = space, None
        if s.adam is not None:
            s.adam = Adam.like(s.y, self.lr, self.beta1, self.beta2)

    def _coordinates(self, rnd: Round, s: ZooState, it: int) -> Tensor:
        """The B coordinates (M, B) of each row, uniformly or by importance."""
        m = s.y.shape[1]
        b = min(self.coordinates, m)
        gens = [s.gens[i] for i in rnd.local.tolist()]
        if not self.importance:
            picks = [torch.randperm(m, generator=g, device=g.device)[:b] for g in gens]
            return torch.stack(picks).to(s.y.device)
        if s.probs is None or it % self.importance_every == 0:
            s.probs = _probabilities(s.y.reshape(-1, *s.space))
        pr = s.probs.cpu()  # the per-sample streams draw on the CPU, whatever the device
        picks = [torch.multinomial(pr[i], b, generator=g) for i, g in enumerate(gens)]
        return torch.stack(picks).to(s.y.device)

    def _probe(self, p: Problem, s: ZooState, idx: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Query y and y ± h e_i along the coordinates ``idx``, all rows in one call.

        Returns:
            the point at y (M, ...), its squared distance, its success (goal and cap),
            and the objective (M, 2B + 1) at y, then y + h e_i, then y − h e_i.
        """
        n, b = idx.shape
        per = 2 * b + 1
        y = s.y[:, None]
        bump = torch.zeros(n, b, s.y.shape[1], dtype=s.y.dtype, device=s.y.device)
        bump = bump.scatter_(2, idx[:, :, None], self.h)
        ys = torch.cat([y, y + bump, y - bump], dim=1).reshape(n * per, *s.space)
        x0r = p.x0.repeat_interleave(per, dim=0)
        xs = p.threat.clip_box(x0r + _lift(ys, p.x0))
        m, success = score_margin(p, xs, per)
        dist2 = (xs - x0r).flatten(1).pow(2).sum(dim=1)
        obj = dist2 + s.c.repeat_interleave(per) * m.clamp_min(-self.kappa)
        head = torch.arange(n, device=xs.device) * per
        x = xs[head]
        return x, dist2[head], success[head] & p.within_cap(x), obj.reshape(n, per)

    def _descend(self, p: Problem, s: ZooState, idx: Tensor, obj: Tensor) -> None:
        """Coordinate Adam or Newton step on y, then (full space) projection onto the box."""
        b = idx.shape[1]
        grad, hess = coordinate_derivatives(obj[:, :1], obj[:, 1 : b + 1], obj[:, b + 1 :], self.h)
        if s.adam is None:
            step = torch.where(hess > 0, self.lr * grad / hess.clamp_min(1e-30), self.lr * grad)
            y = s.y.scatter_add(1, idx, -step)
        else:
            chosen = torch.zeros_like(s.y, dtype=torch.bool).scatter_(1, idx, True)
            y = s.adam.step(s.y, torch.zeros_like(s.y).scatter_(1, idx, grad), where=chosen)
        if not self.attack_sizes:
            x0 = p.x0.reshape(len(p), -1)
            y = torch.maximum(torch.minimum(y, p.threat.hi - x0), p.threat.lo - x0)
        s.y = y

    def _stalled(self, s: ZooState, f0: Tensor) -> Tensor:
        """Rows whose objective at y has not decreased for ``patience`` iterations."""
        if not self.patience:
            return torch.zeros_like(s.stale, dtype=torch.bool)
        cur = f0.double()
        improved = cur < s.best
        s.best = torch.where(improved, cur, s.best)
        s.stale = torch.where(improved, 0, s.stale + 1)
        return s.stale >= self.patience
