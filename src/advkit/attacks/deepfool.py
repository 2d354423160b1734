"""DeepFool: step to the nearest linearized decision boundary until the label flips.

Problem (Moosavi-Dezfooli, Fawzi & Frossard 2016, "DeepFool: a simple and accurate method
to fool deep neural networks"): the least ℓp perturbation that changes the label. At each
iterate the classifier is linearized; for every candidate class k with
f_k = Z_k − Z_y and w_k = ∇f_k, the distance to k's linearized boundary is
|f_k| / ‖w_k‖_q (q the dual norm), and the step goes to the nearest one:
r = |f_k| / ‖w_k‖₂² · w_k (L2) or |f_k| / ‖w_k‖₁ · sign(w_k) (L∞). The iterate is
x0 + (1 + overshoot)·Σr, clipped to the box, and each sample stops as soon as it is
misclassified. Candidates are the top-k classes of the clean logits (default 10); a
targeted attack uses only the target, with f = Z_t − Z_top (the current top class).

Threat model: the threat's norm (L2 or L∞) picks the geometry and the reported distance;
ε caps it (the result is projected onto the ball; ``math.inf`` for no cap).

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

from advkit.attacks._engine import Problem
from advkit.engine import Attack, AttackInfo
from advkit.objectives import is_successful

__all__ = ["DeepFool"]


@dataclass(frozen=True)
class _LogitGap:
    """Z_k − Z_ref for per-sample classes k and ref (the function DeepFool linearizes)."""

    k: Tensor
    ref: Tensor
    name: str = "logit-gap"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        at = logits.gather(1, self.k[:, None]) - logits.gather(1, self.ref[:, None])
        return at.squeeze(1)


@dataclass(frozen=True)
class DeepFool(Attack):
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

    def run(self, problem: Problem) -> Tensor:
        p = problem.threat.p
        if p not in (2.0, math.inf):
            raise ValueError(
                f"DeepFool works in L2 or L∞, not {problem.threat.name}; use advkit.L2 or "
                "advkit.Linf (for L1 use EAD)"
            )
        lo, hi = problem.threat.lo, problem.threat.hi
        x0 = problem.x0
        logits0 = problem.white_box.logits(x0, problem.rows)
        if problem.target is not None:
            cands = problem.target[:, None]
        else:
            k = min(self.candidates, logits0.shape[1])
            masked = logits0.scatter(1, problem.y[:, None], -math.inf)
            cands = masked.topk(k - 1, dim=1).indices
        x = x0.clone()
        r_tot = torch.zeros_like(x0)
        act = (~is_successful(logits0, problem.y, problem.target)).nonzero().squeeze(1)
        shape = [1] * (x0.dim() - 1)
        # untargeted: away from the true label; targeted: past the currently top class
        ref = problem.y.clone() if problem.target is None else logits0.argmax(dim=1)
        for _ in range(self.steps):
            if act.numel() == 0:
                break
            part = problem.subset(act)
            best = torch.full((act.numel(),), math.inf, dtype=x0.dtype)
            step = torch.zeros_like(part.x0)
            xa = x[act]
            for j in range(cands.shape[1]):
                _, f, w = part.value_and_grad(xa, _LogitGap(cands[act, j], ref[act]), None)
                flat = w.reshape(len(part), -1)
                if p == 2.0:
                    wn = flat.norm(dim=1)
                    direction = w / (wn**2).clamp_min(1e-24).reshape(-1, *shape)
                else:
                    wn = flat.abs().sum(dim=1)
                    direction = w.sign() / wn.clamp_min(1e-12).reshape(-1, *shape)
                dist = f.abs() / wn.clamp_min(1e-12)
                nearer = dist < best
                best = torch.where(nearer, dist, best)
                r = (f.abs() + 1e-6).reshape(-1, *shape) * direction
                step = torch.where(nearer.reshape(-1, *shape), r, step)
            r_tot[act] += step
            x[act] = (x0[act] + (1 + self.overshoot) * r_tot[act]).clamp(lo, hi)
            logits = part.white_box.logits(x[act], part.rows)
            if problem.target is not None:
                ref[act] = logits.argmax(dim=1)
            done = is_successful(logits, part.y, part.target)
            act = act[~done]
        return x
