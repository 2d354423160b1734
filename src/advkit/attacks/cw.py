"""Carlini-Wagner L2: the least-L2 perturbation that reaches a logit margin κ.

Problem, per sample (Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural
Networks")::

    minimize ‖x − x0‖₂² + c · f(x)   over x in the box,
    f(x) = max(Z_y − max_{j≠y} Z_j, −κ)           (untargeted, y the true label)
    f(x) = max(max_{j≠t} Z_j − Z_t, −κ)           (targeted, t the target)

on the logits Z. The box constraint is removed by the change of variable
x = lo + (hi − lo)(1 + tanh w)/2 (x0 scaled by 0.999999 first so pixels at exactly 0 or 1
stay finite) and w is optimized by Adam (lr 0.01). A per-sample search on c starts at 1e-3,
multiplies by 10 while no iterate succeeded, and bisects after; each sample keeps its least
L2 successful iterate over all rounds. A sample stops a round early when its loss stopped
improving (checked every steps/10 iterations). Defaults are the reference's 9 × 1000.

``tanh=False`` gives the projected variant: Adam directly on x, clipped to the box after
each step (tanh's gradients vanish near 0 and 1, which hurts on MNIST; Sharma 2018).

Threat model: the threat's norm is the norm distances are reported in, and its ε a cap (an
iterate farther than ε does not count as a success); pass ``L2(math.inf)`` for no cap.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), advkit.CW(steps=50))
    >>> res.distance.shape
    torch.Size([4])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.attacks._engine import Problem
from advkit.attacks._minimal import (
    TANH_SHRINK,
    Smallest,
    check_search,
    search_c,
    start_smallest,
    still_improving,
    within_cap,
)
from advkit.engine import Attack, AttackInfo
from advkit.objectives import CWMargin, is_successful

__all__ = ["CW", "cw_loss"]


def _flat_sq(d: Tensor) -> Tensor:
    return d.reshape(d.shape[0], -1).pow(2).sum(dim=1)


def _flat_l1(d: Tensor) -> Tensor:
    return d.reshape(d.shape[0], -1).abs().sum(dim=1)


def cw_loss(
    logits: Tensor, x: Tensor, x0: Tensor, y: Tensor, target: Tensor | None, c: Tensor, kappa: float
) -> Tensor:
    """C&W's per-sample objective ‖x − x0‖₂² + c·f(x) (to minimize), shape (N,)."""
    return _flat_sq(x - x0) + c * -CWMargin(kappa=kappa)(logits, y, target)


def adam_round(
    sub: Problem,
    local: Tensor,
    c: Tensor,
    best: Smallest,
    *,
    steps: int,
    lr: float,
    kappa: float,
    beta: float,
    l1_rule: bool,
    tanh: bool,
    abort_early: bool,
) -> Tensor:
    """Adam on ‖δ‖₂² + β‖δ‖₁ + c·f at fixed per-sample c; returns which rows succeeded.

    With ``tanh`` the variable is w (x = box(tanh w)), else x itself, clipped to the box.
    Each successful iterate within the cap updates ``best`` by its score: ‖δ‖₁ when
    ``l1_rule``, else β‖δ‖₁ + ‖δ‖₂² (C&W's L2² when β = 0).
    """
    lo, hi = sub.threat.lo, sub.threat.hi
    x0 = sub.x0
    half = (hi - lo) / 2
    cc = c.to(x0.dtype).reshape(-1, *([1] * (x0.dim() - 1)))
    w = torch.atanh(((x0 - lo) / half - 1) * TANH_SHRINK) if tanh else x0.clone()
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    objective = CWMargin(kappa=kappa)
    n = x0.shape[0]
    succeeded = torch.zeros(n, dtype=torch.bool)
    prev = torch.full((n,), torch.inf, dtype=x0.dtype)
    check = max(1, steps // 10)
    act = torch.arange(n)
    part = sub
    b1, b2 = 0.9, 0.999
    for it in range(steps):
        wa = w[act]
        x = lo + half * (torch.tanh(wa) + 1) if tanh else wa
        logits, marg, g = part.value_and_grad(x, objective, part.target)
        delta = x - part.x0
        l2sq, l1 = _flat_sq(delta), _flat_l1(delta)
        ok = is_successful(logits, part.y, part.target) & (marg >= kappa) & within_cap(part, x)
        score = l1 if l1_rule else beta * l1 + l2sq
        best.update(local[act], x, score, ok)
        succeeded[act] |= ok
        ca = cc[act]
        grad = 2 * delta + beta * delta.sign() - ca * g
        if tanh:
            grad = grad * half * (1 - torch.tanh(wa) ** 2)
        t = it + 1
        m[act] = b1 * m[act] + (1 - b1) * grad
        v[act] = b2 * v[act] + (1 - b2) * grad * grad
        mhat = m[act] / (1 - b1**t)
        vhat = v[act] / (1 - b2**t)
        step = wa - lr * mhat / (vhat.sqrt() + 1e-8)
        w[act] = step if tanh else step.clamp(lo, hi)
        if abort_early and it % check == 0:
            loss = l2sq + beta * l1 - c.to(x0.dtype)[act] * marg
            keep = still_improving(loss, prev, act)
            if keep.numel() == 0:
                break
            if keep.numel() < act.numel():
                act = act[keep]
                part = part.subset(keep)
    return succeeded


@dataclass(frozen=True)
class CW(Attack):
    """Carlini-Wagner L2 attack (minimal distortion, white-box).

    Args:
        steps: Adam iterations per value of c (default 1000; a sample stops earlier when
            its loss stops improving).
        search_steps: values of c tried per sample (default 9).
        initial_const: first c (default 1e-3).
        lr: Adam's learning rate (default 0.01).
        kappa: confidence κ ≥ 0: success needs a logit margin of at least κ (default 0).
        abort_early: stop a sample's round when its loss stalls (default True).
        tanh: optimize through x = box(tanh w) (default True); False gives the projected
            variant (Adam on x, clipped to the box).

    Gradient calls per sample: at most ``search_steps × steps``.
    """

    steps: int = 1000
    search_steps: int = 9
    initial_const: float = 1e-3
    lr: float = 0.01
    kappa: float = 0.0
    abort_early: bool = True
    tanh: bool = True

    info = AttackInfo(
        "cw",
        "minimal L2: Carlini-Wagner L2, tanh + Adam, search on c (9 × 1000), 2017",
        minimal=True,
    )

    def __post_init__(self) -> None:
        check_search(self.search_steps, self.steps, self.initial_const)
        if self.kappa < 0:
            raise ValueError(f"confidence kappa must be >= 0, got {self.kappa}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def run(self, problem: Problem) -> Tensor:
        best = start_smallest(problem)

        def run_round(sub: Problem, local: Tensor, c: Tensor) -> Tensor:
            return adam_round(
                sub,
                local,
                c,
                best,
                steps=self.steps,
                lr=self.lr,
                kappa=self.kappa,
                beta=0.0,
                l1_rule=False,
                tanh=self.tanh,
                abort_early=self.abort_early,
            )

        search_c(
            problem,
            best,
            initial_const=self.initial_const,
            search_steps=self.search_steps,
            run_round=run_round,
        )
        return best.x
