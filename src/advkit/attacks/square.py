"""Square attack: random search over square-shaped updates, score-only, L∞, L2 and L1.

Finds a point of the threat's ball (∩ box) where the margin ``log F_y − max_{j≠y} log F_j``
(targeted: ``max_{j≠t} log F_j − log F_t``) is negative, using only the model's scores. Each
iteration changes one random square window (two for L2 and L1) of side ``s`` at the boundary of
the ball and keeps the change if the margin decreases; ``s`` shrinks on a fixed schedule
(the fraction ``p`` of changed pixels halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000
and 8000 of 10000 iterations, scaled to the query budget unless ``rescale=False``, as
AutoAttack runs it). One model query per iteration per sample; each
sample stops as soon as it is broken or its budget is spent.

Paper: Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient
black-box adversarial attack via random search", ECCV 2020.

At L1 the search follows Croce & Hein, "Mind the box: l1-APGD for sparse adversarial
attacks on image classifiers" (ICML 2021), which brought Square into AutoAttack's L1
version. The start is a grid of pulses of unit ℓ1 mass (nested centred squares weighted
1/(k+1)⁴, so the mass sits near each pulse's centre, with a random sign per channel)
projected onto the ℓ1 ball ∩ box. Each iteration draws two windows of side ``s`` (odd, at
least 3): the first gets a new pulse plus its old content rescaled, together carrying the
ℓ1 mass both windows held and the budget still unspent, the second is emptied, and the
result is projected exactly onto the ℓ1 ball ∩ box (coordinates the box cuts are clipped,
and a perturbation still over ε is shrunk by soft thresholding). ``p``, its schedule and
the query accounting are those of L2.

Example:
    >>> import torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> oracle = advkit.ScoreOnly(model, budget=200)
    >>> res = advkit.attack(oracle, x, y, advkit.Linf(0.1), advkit.Square(queries=200))
    >>> bool((res.queries <= 200).all())
    True
    >>> res = advkit.attack(oracle, x, y, advkit.L1(2.0), advkit.Square(queries=50))
    >>> bool((res.distance <= 2.0 + 1e-5).all())
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.access import Access
from advkit.attacks._scores import score_margin, unqueried
from advkit.engine import AttackInfo, Best, Evaluation, FixedEpsAttack, Problem, Round

__all__ = ["Square"]

PulseFn = Callable[[int, torch.device], Tensor]
"""A square's update pattern of a given side on a device (:func:`_pulse`, :func:`_pulse_l1`)."""

_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
_SCHEDULE = 10000


def _square(u: Tensor, s: int, h: int, w: int) -> tuple[Tensor, Tensor, Tensor]:
    """An s×s window of an h×w image per sample, its corner drawn from uniforms u (n, 2):
    the mask (n, 1, h, w) and the corner (top, left)."""
    top = (u[:, 0] * (h - s + 1)).long().clamp_max(h - s)
    left = (u[:, 1] * (w - s + 1)).long().clamp_max(w - s)
    rows = torch.arange(h, device=u.device) - top[:, None]
    cols = torch.arange(w, device=u.device) - left[:, None]
    inside = ((rows >= 0) & (rows < s))[:, :, None] & ((cols >= 0) & (cols < s))[:, None, :]
    return inside[:, None], top, left


def _rect(a: int, b: int, power: int, device: torch.device) -> Tensor:
    """An a×b block (float64) that is the sum of nested rectangles centred on it, the k-th
    (k = 0 the centre) of weight 1/(k+1)^power."""
    ca, cb = a // 2, b // 2
    k_max = max(a // 2 + 1, b // 2 + 1)
    dist = torch.maximum(
        (torch.arange(a, device=device) - ca).abs()[:, None],
        (torch.arange(b, device=device) - cb).abs()[None, :],
    )
    w = 1.0 / (torch.arange(k_max, dtype=torch.float64, device=device) + 1) ** power
    tail = w.flip(0).cumsum(0).flip(0)  # tail[d] = Σ_{k ≥ d} w[k]
    return tail[dist]


def _pulse(s: int, device: torch.device) -> Tensor:
    """Square attack's L2 update pattern of side s on ``device``: two stacked blocks of
    opposite sign, each a sum of nested centred rectangles with weights 1/(k+1)², unit L2
    norm."""
    top = s // 2
    if top:
        out = torch.cat([_rect(top, s, 2, device), -_rect(s - top, s, 2, device)])
    else:
        out = _rect(s, s, 2, device)
    return (out / out.norm()).float()


def _pulse_l1(s: int, device: torch.device) -> Tensor:
    """The L1 update pattern of side s: two stacked blocks of opposite sign and equal ℓ1
    mass, each a sum of nested centred rectangles with weights 1/(k+1)⁴ (most of the mass
    near its centre), unit ℓ1 norm."""
    top = s // 2
    if not top:
        block = _rect(s, s, 4, device)
        return (block / block.sum()).float()
    upper, lower = _rect(top, s, 4, device), _rect(s - top, s, 4, device)
    return (torch.cat([upper / upper.sum(), -lower / lower.sum()]) / 2).float()


def _place(patterns: Tensor, which: Tensor, top: Tensor, left: Tensor, mask: Tensor) -> Tensor:
    """Put pattern ``patterns[which[n]]`` (s×s) in the window ``mask`` (n, 1, h, w) whose
    corner is (top[n], left[n])."""
    s, (h, w) = patterns.shape[-1], mask.shape[-2:]
    ri = (torch.arange(h, device=mask.device)[None, :] - top[:, None]).clamp(0, s - 1)
    ci = (torch.arange(w, device=mask.device)[None, :] - left[:, None]).clamp(0, s - 1)
    return patterns[which[:, None, None], ri[:, :, None], ci[:, None, :]][:, None] * mask


def _sum_hw(t: Tensor) -> Tensor:
    return t.sum(dim=(-2, -1), keepdim=True)


def _grid(x0: Tensor, gens: list[torch.Generator], pulse: PulseFn) -> Tensor:
    """The starting perturbation of L2 and L1: a centred grid of s×s blocks (s = H // 5),
    each one ``pulse(s)`` or its transpose with a random sign per channel, drawn from each
    sample's generator."""
    n, c, h, w = x0.shape
    s = max(h // 5, 1)
    pattern = pulse(s, x0.device)
    delta = torch.zeros_like(x0)
    top0 = (h - s * (h // s)) // 2
    left0 = (w - s * (w // s)) // 2
    for i in range(h // s):
        for j in range(w // s):
            draws = [torch.rand(c + 1, generator=g, device=g.device) for g in gens]
            draw = torch.stack(draws).to(x0.device)
            pat = torch.where(draw[:, -1:, None] < 0.5, pattern.flatten(), pattern.T.flatten())
            sign = torch.where(draw[:, :c] < 0.5, -1.0, 1.0)
            block = sign[:, :, None, None] * pat.reshape(n, 1, s, s)
            r, q = top0 + i * s, left0 + j * s
            delta[:, :, r : r + s, q : q + s] += block
    return delta


def _windows(st: SquareState, u: Tensor, s: int, pulse: PulseFn) -> tuple[Tensor, Tensor, Tensor]:
    """The two random s×s windows of an L2 or L1 step (masks (n, 1, h, w)) and the new
    pattern in the first: ``pulse(s)`` or its transpose, a random sign per channel."""
    x, patterns = st.current, st.patterns
    _, c, h, w = x.shape
    if s not in patterns:
        patterns[s] = torch.stack([pulse(s, x.device), pulse(s, x.device).T])
    m1, top1, lft1 = _square(u[:, :2], s, h, w)
    m2, _, _ = _square(u[:, 2:4], s, h, w)
    which = (u[:, -1] < 0.5).long()
    sign = torch.where(u[:, 4 : 4 + c] < 0.5, -1.0, 1.0).to(x.dtype)[:, :, None, None]
    return m1, m2, _place(patterns[s], which, top1, lft1, m1).to(x.dtype) * sign


@dataclass
class SquareState:
    """One search: the candidate queried next, the accepted point and its objective (the
    record), each row's query allowance, and its uniforms for every iteration (window
    corners, two windows for L2, channel signs, and for L2 a transpose bit)."""

    x: Tensor
    current: Tensor
    loss: Tensor
    left: Tensor
    u: Tensor
    patterns: dict[int, Tensor]


@dataclass(frozen=True)
class Square(FixedEpsAttack[SquareState]):
    """Square attack (Andriushchenko et al. 2020) for L∞, L2 or L1 threats (L1 as Croce &
    Hein 2021 extend it), score-only.

    Args:
        queries: maximum model queries per sample, including the clean evaluation and the
            initial perturbation (default 5000, as in AutoAttack).
        p_init: initial fraction of pixels changed per iteration (default 0.8, AutoAttack's
            value; the paper uses 0.05 on ImageNet).
        rescale: stretch the schedule of that fraction from 10000 iterations to
            ``queries`` (default True, the reference's default); False keeps the
            10000-iteration schedule whatever the budget, as AutoAttack's suites run it
            (``resc_schedule=False``: with 5000 queries the windows stop shrinking at
            p_init / 128).

    Inputs must be images (N, C, H, W). Needs :class:`~advkit.access.ScoreOnly` access.
    """

    queries: int = 5000
    p_init: float = 0.8
    rescale: bool = True

    info = AttackInfo(
        "square",
        "Square attack, score-only random search, 5000 queries, L∞/L2/L1, 2020",
        Access.SCORES,
        norms=("linf", "l2", "l1"),
    )

    def __post_init__(self) -> None:
        if self.queries < 2:
            raise ValueError(f"queries must be >= 2 (clean point and one try), got {self.queries}")
        if not 0 < self.p_init <= 1:
            raise ValueError(f"p_init must be in (0, 1], got {self.p_init}")

    def fraction(self, it: int) -> float:
        """The fraction of pixels to change at search iteration ``it`` (from 0).

        Example:
            >>> Square(queries=5000).fraction(3000), Square(rescale=False).fraction(3000)
            (0.00625, 0.0125)
        """
        scaled = int(it / self.queries * _SCHEDULE) if self.rescale else it
        return self.p_init / 2 ** sum(scaled > t for t in _HALVINGS)

    def prepare(self, problem: Problem) -> Evaluation:
        """The clean points' evaluation (one query each)."""
        if problem.x0.dim() != 4:
            raise ValueError(
                "Square needs image inputs of shape (N, C, H, W), got shape "
                f"{tuple(problem.x0.shape)}"
            )
        m, success = score_margin(problem, problem.x0)
        return Evaluation(problem.x0, -m, success)

    def begin(self, problem: Problem, context: Evaluation) -> Best:
        return Best.maximizing(problem.x0, context.success, context.score)

    def _allowance(self, p: Problem) -> Tensor:
        """Queries each sample may spend on the search (its budget left, at most
        ``queries`` − 1)."""
        return torch.clamp(p.oracle.remaining(p.rows), max=self.queries - 1)

    def iterations(self, rnd: Round) -> int:
        return int(self._allowance(rnd.problem).max())

    def init(self, rnd: Round) -> tuple[SquareState, Evaluation]:
        p, c = rnd.problem, rnd.problem.x0.shape[1]
        k = (4 + c + 1) if p.threat.name in ("l2", "l1") else (2 + c)
        iters = self.iterations(rnd)
        gens = p.generators("square-windows")
        u = torch.stack([torch.rand(iters, k, generator=g, device=g.device) for g in gens])
        u = u.to(p.x0.device)  # drawn on the CPU per sample, moved once
        left = self._allowance(p)
        state = SquareState(self._start(p), p.x0, rnd.context.score[rnd.local], left, u, {})
        return state, unqueried(p.x0, left <= 0, minimize=False)

    def step(self, rnd: Round, s: SquareState, k: int) -> Evaluation:
        """Query the candidate, accept it if the objective rose, draw the next one."""
        p = rnd.problem
        m, success = score_margin(p, s.x)
        ev = Evaluation(s.x, -m, success, k >= s.left)
        better = -m > s.loss
        s.current = torch.where(better[:, None, None, None], s.x, s.current)
        s.loss = torch.where(better, -m, s.loss)
        if k < s.u.shape[1]:
            s.x = self._candidate(p, s, k - 1)
        return ev

    def _candidate(self, p: Problem, s: SquareState, it: int) -> Tensor:
        """The change of iteration ``it`` applied to the accepted point."""
        _, _, h, w = p.x0.shape
        side = round(math.sqrt(self.fraction(it) * h * w))
        eps = p.threat.radius(p.x0)
        if p.threat.name in ("l2", "l1"):
            side = min(max(side, 3) + (max(side, 3) % 2 == 0), h, w)
            step = self._l2_step if p.threat.name == "l2" else self._l1_step
            return step(p, s, s.u[:, it], side, eps)
        side = min(max(side, 1), max(h - 1, 1), max(w - 1, 1))
        return self._linf_step(p, s.current, s.u[:, it], side, eps)

    def _start(self, problem: Problem) -> Tensor:
        """Vertical ±ε stripes (L∞), a grid of random ±pulses scaled to norm ε (L2), or
        that grid of unit-mass L1 pulses projected onto the ℓ1 ball ∩ box (L1)."""
        x0, gens = problem.x0, problem.generators("square-start")
        c, w = x0.shape[1], x0.shape[3]
        eps = problem.threat.radius(x0)
        if problem.threat.name == "linf":
            draws = [torch.randint(0, 2, (c, 1, w), generator=g, device=g.device) for g in gens]
            signs = torch.stack(draws).to(x0.device, x0.dtype)
            return problem.threat.project(x0 + eps * (2 * signs - 1), x0)
        if problem.threat.name == "l1":
            return problem.threat.project(x0 + _grid(x0, gens, _pulse_l1), x0)
        delta = _grid(x0, gens, _pulse)
        norm = delta.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
        return problem.threat.project(x0 + delta / norm * eps, x0)

    def _linf_step(self, problem: Problem, x: Tensor, u: Tensor, s: int, eps: Tensor) -> Tensor:
        _, c, h, w = x.shape
        x0 = problem.x0
        mask, _, _ = _square(u[:, :2], s, h, w)
        sign = torch.where(u[:, 2 : 2 + c] < 0.5, -1.0, 1.0).to(x.dtype)[:, :, None, None]
        cand = problem.threat.clip_box(x0 + eps * sign)
        new = torch.where(mask, cand, x)
        same = ((new - x).abs() < 1e-7).flatten(1).all(dim=1)
        if same.any():  # the window already holds these signs: flip them
            flipped = torch.where(mask, problem.threat.clip_box(x0 - eps * sign), x)
            new = torch.where(same[:, None, None, None], flipped, new)
        return new

    def _l2_step(self, problem: Problem, st: SquareState, u: Tensor, s: int, eps: Tensor) -> Tensor:
        x, x0, c = st.current, problem.x0, st.current.shape[1]
        m1, m2, new = _windows(st, u, s, _pulse)
        delta = x - x0
        union = m1 | m2
        norm_w1 = _sum_hw((delta * m1) ** 2).sqrt()
        norm_windows = _sum_hw((delta * union) ** 2).sqrt()
        norm_img = delta.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
        new = new + delta * m1 / (norm_w1 + 1e-12)
        scale = ((eps**2 - norm_img**2).clamp_min(0) / c + norm_windows**2).sqrt()
        new = new / (_sum_hw(new**2).sqrt() + 1e-12) * scale
        delta = torch.where(m1, new, torch.where(m2, torch.zeros_like(delta), delta))
        dnorm = delta.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
        return problem.threat.project(x0 + delta / dnorm * eps, x0)

    def _l1_step(self, problem: Problem, st: SquareState, u: Tensor, s: int, eps: Tensor) -> Tensor:
        """Replace window 1 by the pulse plus its old content rescaled, of the ℓ1 mass the
        two windows held plus the budget left; empty window 2; project onto ball ∩ box."""
        x0, c = problem.x0, problem.x0.shape[1]
        m1, m2, new = _windows(st, u, s, _pulse_l1)
        delta = st.current - x0
        mass_w1 = _sum_hw((delta * m1).abs())
        mass_windows = _sum_hw((delta * (m1 | m2)).abs())
        spare = (eps - delta.flatten(1).abs().sum(dim=1).reshape(-1, 1, 1, 1)).clamp_min(0)
        new = new + delta * m1 / (mass_w1 + 1e-12)
        # each channel's window gets c times its share of the mass (as AutoAttack's L1
        # Square does); the projection onto the ℓ1 ball ∩ box takes back what exceeds ε
        mass = (spare / c + mass_windows) * c
        new = new / (_sum_hw(new.abs()) + 1e-12) * mass
        delta = torch.where(m1, new, torch.where(m2, torch.zeros_like(delta), delta))
        return problem.project(x0 + delta)
