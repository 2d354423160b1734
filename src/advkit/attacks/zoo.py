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
objective has not decreased for ``patience`` iterations. Pixels are kept in the box by
projection (no tanh change of variables).

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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from advkit.access import Access
from advkit.attacks._engine import Problem
from advkit.attacks._minimal import Smallest, check_search, search_c, within_cap
from advkit.attacks._scores import log_probs, score_margin, score_start
from advkit.engine import Attack, AttackInfo
from advkit.objectives import is_successful

__all__ = ["ZOO", "coordinate_derivatives"]


def coordinate_derivatives(f0: Tensor, fp: Tensor, fm: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """Symmetric-difference gradient and curvature along coordinates, from the objective
    at y (``f0``, broadcastable) and at y ± h e_i (``fp``, ``fm``): errors are O(h²)."""
    return (fp - fm) / (2 * h), (fp - 2 * f0 + fm) / h**2


@dataclass(frozen=True)
class ZOO(Attack):
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

    Queries per sample: 1 + at most ``search_steps × steps × (2B+1)``; the oracle's budget
    stops a sample earlier. Use a threat such as ``L2(math.inf)`` (or a cap on ε).
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

    def run(self, problem: Problem) -> Tensor:
        if self.attack_sizes and problem.x0.dim() != 4:
            raise ValueError("attack_sizes needs image inputs of shape (N, C, H, W)")
        start, _ = score_start(problem)
        best = Smallest(problem.x0, start.success)
        found = start.success.clone()
        rounds = [0]

        def run_round(sub: Problem, local: Tensor, c: Tensor) -> Tensor:
            rounds[0] += 1
            return self._round(sub, local, c, best, found, rounds[0])

        search_c(
            problem,
            best,
            initial_const=self.initial_const,
            search_steps=self.search_steps,
            run_round=run_round,
        )
        return best.x

    # ----- one round at fixed c -------------------------------------------------------
    def _space(self, x0: Tensor, size: int | None) -> tuple[int, ...]:
        if size is None:
            return tuple(x0.shape[1:])
        return (x0.shape[1], size, size)

    def _lift(self, yv: Tensor, x0: Tensor) -> Tensor:
        """δ = D(y) for rows of y (R, *space) into x's shape (R, *x0.shape[1:])."""
        if yv.shape[1:] == x0.shape[1:]:
            return yv
        return F.interpolate(yv, size=tuple(x0.shape[2:]), mode="bilinear", align_corners=False)

    def _probabilities(self, y: Tensor) -> Tensor:
        """Importance-sampling probabilities (n, m) from max-pooled |y| (8×8 regions)."""
        n = y.shape[0]
        if y.dim() != 4:
            return torch.full((n, y[0].numel()), 1.0 / y[0].numel())
        k = max(y.shape[-1] // 8, 1)
        pooled = F.max_pool2d(y.abs(), k, stride=k, ceil_mode=True)
        up = F.interpolate(pooled, size=tuple(y.shape[-2:]), mode="nearest").flatten(1)
        total = up.sum(dim=1, keepdim=True)
        uniform = torch.full_like(up, 1.0 / up.shape[1])
        return torch.where(total > 0, up / total.clamp_min(1e-30), uniform)

    def _round(
        self,
        sub: Problem,
        local: Tensor,
        c: Tensor,
        best: Smallest,
        found: Tensor,
        round_no: int,
    ) -> Tensor:
        x0 = sub.x0
        n = x0.shape[0]
        sizes: list[int | None] = list(self.attack_sizes) or [None]
        level = 0
        y = torch.zeros((n, *self._space(x0, sizes[0])), dtype=x0.dtype)
        m = y[0].numel()
        adam_m = torch.zeros(n, m, dtype=x0.dtype)
        adam_v = torch.zeros(n, m, dtype=x0.dtype)
        adam_t = torch.zeros(n, m, dtype=x0.dtype)
        gens = sub.generators("coordinates", round_no)
        succeeded = torch.zeros(n, dtype=torch.bool)
        best_obj = torch.full((n,), torch.inf, dtype=torch.float64)
        stale = torch.zeros(n, dtype=torch.long)
        act = torch.arange(n)
        part = sub
        cc = c.to(x0.dtype)
        probs: Tensor | None = None
        for it in range(self.steps):
            if level + 1 < len(sizes) and it == self.grow_at[level]:
                level += 1
                new = self._space(x0, sizes[level])
                y = F.interpolate(y, size=new[1:], mode="bilinear", align_corners=False)
                m = y[0].numel()
                adam_m = torch.zeros(n, m, dtype=x0.dtype)
                adam_v, adam_t = torch.zeros_like(adam_m), torch.zeros_like(adam_m)
                probs = None
            b = min(self.coordinates, m)
            rows_per = 2 * b + 1
            room = (part.oracle.remaining(part.rows) >= rows_per).nonzero().squeeze(1)
            if room.numel() < act.numel():
                if room.numel() == 0:
                    break
                act, part = act[room], part.subset(room)
            na = act.numel()
            if self.importance and (probs is None or it % self.importance_every == 0):
                probs = self._probabilities(y)
            idx = torch.stack(
                [
                    torch.multinomial(probs[i], b, replacement=False, generator=gens[i])
                    if self.importance and probs is not None
                    else torch.randperm(m, generator=gens[i])[:b]
                    for i in act.tolist()
                ]
            )
            yf = y[act].reshape(na, m)
            bump = torch.zeros(na, b, m, dtype=x0.dtype).scatter_(2, idx[:, :, None], self.h)
            ys = torch.cat([yf[:, None], yf[:, None] + bump, yf[:, None] - bump], dim=1)
            x0r = part.x0.repeat_interleave(rows_per, dim=0)
            delta = self._lift(ys.reshape(na * rows_per, *y.shape[1:]), x0)
            xs = part.threat.clip_box(x0r + delta)
            rows = part.rows.repeat_interleave(rows_per)
            yr = part.y.repeat_interleave(rows_per)
            tr = None if part.target is None else part.target.repeat_interleave(rows_per)
            logp = log_probs(part, xs, rows)
            f = score_margin(logp, yr, tr).clamp_min(-self.kappa)
            dist2 = (xs - x0r).flatten(1).pow(2).sum(dim=1)
            obj = (dist2 + cc[act].repeat_interleave(rows_per) * f).reshape(na, rows_per)
            f0, fp, fm = obj[:, :1], obj[:, 1 : b + 1], obj[:, b + 1 :]
            grad, hess = coordinate_derivatives(f0, fp, fm, self.h)
            # the current point is row 0 of each image
            head = torch.arange(na) * rows_per
            x_cur = xs[head]
            ok = is_successful(logp[head], part.y, part.target) & within_cap(part, x_cur)
            best.update(local[act], x_cur, dist2[head], ok)
            succeeded[act] |= ok
            first = ok & ~found[local[act]]
            if first.any():  # restart Adam from the first success
                fi = act[first]
                adam_m[fi], adam_v[fi], adam_t[fi] = 0.0, 0.0, 0.0
                found[local[fi]] = True
            step = self._step(grad, hess, idx, act, adam_m, adam_v, adam_t)
            yf = yf.scatter_add(1, idx, -step)
            if len(sizes) == 1 and sizes[0] is None:  # projection onto the box
                flat0 = part.x0.reshape(na, m)
                yf = torch.maximum(
                    torch.minimum(yf, part.threat.hi - flat0), part.threat.lo - flat0
                )
            y[act] = yf.reshape(na, *y.shape[1:])
            if self.patience:
                cur = f0[:, 0].double()
                improved = cur < best_obj[act]
                best_obj[act] = torch.where(improved, cur, best_obj[act])
                stale[act] = torch.where(improved, 0, stale[act] + 1)
                keep = (stale[act] < self.patience).nonzero().squeeze(1)
                if keep.numel() < na:
                    if keep.numel() == 0:
                        break
                    act, part = act[keep], part.subset(keep)
        return succeeded

    def _step(
        self,
        grad: Tensor,
        hess: Tensor,
        idx: Tensor,
        act: Tensor,
        adam_m: Tensor,
        adam_v: Tensor,
        adam_t: Tensor,
    ) -> Tensor:
        """The update (na, B) of the chosen coordinates (to subtract from y)."""
        if self.solver == "newton":
            return torch.where(hess > 0, self.lr * grad / hess.clamp_min(1e-30), self.lr * grad)
        mm = self.beta1 * adam_m[act].gather(1, idx) + (1 - self.beta1) * grad
        vv = self.beta2 * adam_v[act].gather(1, idx) + (1 - self.beta2) * grad * grad
        tt = adam_t[act].gather(1, idx) + 1
        for state, val in ((adam_m, mm), (adam_v, vv), (adam_t, tt)):
            rows = state[act]
            rows.scatter_(1, idx, val)
            state[act] = rows
        mhat = mm / (1 - self.beta1**tt)
        vhat = vv / (1 - self.beta2**tt)
        return self.lr * mhat / (vhat.sqrt() + 1e-8)
