"""DeepFool: step to the nearest linearized decision boundary until the label flips.

Problem (Moosavi-Dezfooli, Fawzi & Frossard 2016, "DeepFool: a simple and accurate method
to fool deep neural networks"): the least ℓp perturbation that changes the label. At each
iterate the classifier is linearized; for every candidate class k with
f_k = Z_k − Z_y and w_k = ∇f_k, the distance to k's linearized boundary is
|f_k| / ‖w_k‖_q (q the dual norm), and the step goes to the nearest one:
r = |f_k| / ‖w_k‖₂² · w_k (L2) or |f_k| / ‖w_k‖₁ · sign(w_k) (L∞). The iterate is
x0 + (1 + overshoot)·Σr, clipped to the box, and each sample stops as soon as it is
misclassified (the overshot point is the one checked, as in the authors' code).
Candidates are the top-k classes of the clean logits (default 10); a targeted attack uses
only the target, with f = Z_t − Z_top (the current top class).

The box: w_k keeps only the coordinates a step can move (a pixel at 0 whose gradient
points down is frozen), so r reaches the linearized boundary on the box's face, and Σr
keeps only what the clipping let through. Without this, a step's share in frozen pixels
is clipped away, the iterate converges to the boundary from the wrong side, and the
multiplicative overshoot never carries it across.

Threat model: L2 or L∞ (the geometry and the distance); the result is projected onto the ε
ball (``math.inf``: no cap), and a sample still robust after ``steps`` iterations keeps x0.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), advkit.DeepFool())
    >>> res.x_adv.shape
    torch.Size([4, 16])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.engine import AttackInfo, Best, Evaluation, MinimalAttack, Problem, Round, select_rows

__all__ = ["DeepFool"]


@dataclass(frozen=True)
class _LogitGap:
    """Z_k − Z_ref for per-sample classes k and ref (the function DeepFool linearizes)."""

    k: Tensor
    ref: Tensor
    name: str = "logit-gap"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return (logits.gather(1, self.k[:, None]) - logits.gather(1, self.ref[:, None]))[:, 0]


@dataclass
class Iterate:
    """Each sample's iterate, accumulated step Σr (inside the box), reference and
    candidate classes."""

    x: Tensor
    r_tot: Tensor
    ref: Tensor
    classes: Tensor


@dataclass(frozen=True)
class DeepFool(MinimalAttack[Iterate]):
    """DeepFool, L2 or L∞ by the threat model (minimal distortion, white-box).

    Args:
        steps: maximum iterations (default 50).
        overshoot: the final perturbation is (1 + overshoot)·Σr (default 0.02).
        candidates: classes considered, the top-k of the clean logits (default 10).

    Gradient calls per sample: at most ``steps × (candidates − 1)`` (``steps`` targeted).
    """

    steps: int = 50
    overshoot: float = 0.02
    candidates: int = 10

    info = AttackInfo(
        "deepfool",
        "minimal L2/L∞: DeepFool, top-10 classes, overshoot 0.02, 2016",
        norms=("l2", "linf"),
        minimal=True,
    )

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.overshoot < 0:
            raise ValueError(f"overshoot must be >= 0, got {self.overshoot}")
        if self.candidates < 2:
            raise ValueError(f"candidates must be >= 2, got {self.candidates}")

    def prepare(self, problem: Problem) -> tuple[Tensor, Iterate]:
        """From the clean logits: which samples already succeed, and every start."""
        logits = problem.logits(problem.x0)
        if problem.target is not None:  # towards the target, past the currently top class
            classes, ref = problem.target[:, None], logits.argmax(dim=1)
        else:
            k = min(self.candidates, logits.shape[1])
            masked = logits.scatter(1, problem.y[:, None], -math.inf)
            classes, ref = masked.topk(k - 1, dim=1).indices, problem.y
        start = Iterate(problem.x0, torch.zeros_like(problem.x0), ref, classes)
        return problem.successful(logits), start

    def begin(self, problem: Problem, context: tuple[Tensor, Iterate]) -> Best:
        return Best.minimizing(problem.x0, context[0])

    def init(self, rnd: Round) -> tuple[Iterate, Evaluation]:
        zero = torch.zeros(len(rnd.problem), device=rnd.problem.x0.device)
        return select_rows(rnd.context[1], rnd.local), Evaluation(rnd.problem.x0, zero, zero > 0)

    def step(self, rnd: Round, s: Iterate, k: int) -> Evaluation:
        p = rnd.problem
        grow = 1 + self.overshoot
        s.x = p.threat.clip_box(p.x0 + grow * (s.r_tot + self._nearest(p, s)))
        s.r_tot = (s.x - p.x0) / grow  # what the box let through: no dead zone past it
        logits = p.logits(s.x)
        if p.target is not None:
            s.ref = logits.argmax(dim=1)
        ok = p.successful(logits)  # the caller projects the result onto the ε ball
        return Evaluation(s.x, p.threat.norm(s.x - p.x0), ok, ok)

    def _nearest(self, p: Problem, s: Iterate) -> Tensor:
        """The step r to the nearest candidate's linearized boundary at the iterate, in
        the coordinates the box lets move."""
        shape = (-1, *[1] * (p.x0.dim() - 1))
        best = torch.full((len(p),), math.inf, dtype=p.x0.dtype, device=p.x0.device)
        step = torch.zeros_like(p.x0)
        for j in range(s.classes.shape[1]):
            _, f, g = p.value_and_grad(s.x, _LogitGap(s.classes[:, j], s.ref), None)
            w = p.threat.unblocked(g, s.x)
            flat, gap = w.reshape(len(p), -1), (f.abs() + 1e-6).reshape(shape)
            if p.threat.p == 2.0:
                wn = flat.norm(dim=1)
                r = gap * (w / (wn**2).clamp_min(1e-24).reshape(shape))
            else:
                wn = flat.abs().sum(dim=1)
                r = gap * (w.sign() / wn.clamp_min(1e-12).reshape(shape))
            dist = f.abs() / wn.clamp_min(1e-12)
            nearer = dist < best
            best = torch.where(nearer, dist, best)
            step = torch.where(nearer.reshape(shape), r, step)
        return step
