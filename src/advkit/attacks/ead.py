"""EAD, the elastic-net attack: least elastic-net distortion by FISTA with shrinkage.

Problem, per sample (Chen, Sharma, Zhang, Yi & Hsieh 2018, "EAD: Elastic-Net Attacks to
Deep Neural Networks via Adversarial Examples")::

    minimize c · f(x) + β‖x − x0‖₁ + ‖x − x0‖₂²   over x in the box,

with f C&W's logit loss (see :mod:`advkit.attacks.cw`). FISTA on g(x) = c·f(x) + ‖x − x0‖₂²
handles the non-smooth L1 term and the box exactly through the projected
shrinkage-thresholding operator S_β (:func:`shrink`)::

    x⁽ᵏ⁺¹⁾ = S_β(y⁽ᵏ⁾ − α_k ∇g(y⁽ᵏ⁾)),   y⁽ᵏ⁺¹⁾ = x⁽ᵏ⁺¹⁾ + k/(k+3) (x⁽ᵏ⁺¹⁾ − x⁽ᵏ⁾),

α_k = α₀ √(1 − k/K) (α₀ = 0.01). c is searched per sample as for C&W. The returned example
is the best successful iterate by the **EN rule** (least β‖δ‖₁ + ‖δ‖₂²) or the **L1 rule**
(least ‖δ‖₁). With β = 0 the objective is C&W's.

``optimizer="tanh-adam"`` is the naive change-of-variable variant (C&W's tanh + Adam on the
same objective, L1 through its subgradient), kept to show Sharma's (2018) finding that it is
insensitive to β while FISTA is not.

Threat model: as for C&W, ε is a cap and the threat's norm the reported distance; pass
``L1(math.inf)`` for no cap.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    >>> res = advkit.attack(model, x, y, advkit.L1(math.inf), advkit.EAD(steps=50))
    >>> res.distance.shape
    torch.Size([4])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from advkit.attacks._engine import Problem
from advkit.attacks._minimal import (
    Smallest,
    check_search,
    search_c,
    start_smallest,
    still_improving,
    within_cap,
)
from advkit.attacks.cw import adam_round
from advkit.engine import Attack, AttackInfo
from advkit.objectives import CWMargin, is_successful

__all__ = ["EAD", "ead_loss", "shrink"]


def shrink(z: Tensor, x0: Tensor, beta: float, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """The projected shrinkage-thresholding operator S_β, elementwise.

    ``z − x0 > β → min(z − β, hi)``; ``|z − x0| ≤ β → x0``; ``z − x0 < −β → max(z + β, lo)``.
    """
    d = z - x0
    up = (z - beta).clamp_max(hi)
    down = (z + beta).clamp_min(lo)
    return torch.where(d > beta, up, torch.where(d < -beta, down, x0))


def ead_loss(
    logits: Tensor,
    x: Tensor,
    x0: Tensor,
    y: Tensor,
    target: Tensor | None,
    c: Tensor,
    kappa: float,
    beta: float,
) -> Tensor:
    """EAD's per-sample objective c·f(x) + β‖δ‖₁ + ‖δ‖₂² (to minimize), shape (N,)."""
    d = (x - x0).reshape(x.shape[0], -1)
    f = -CWMargin(kappa=kappa)(logits, y, target)
    return c * f + beta * d.abs().sum(dim=1) + d.pow(2).sum(dim=1)


def _fista_round(
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
    abort_early: bool,
) -> Tensor:
    """FISTA at fixed per-sample c; returns which rows had a successful iterate."""
    lo, hi = sub.threat.lo, sub.threat.hi
    n = len(sub)
    cc = c.to(sub.x0.dtype)
    objective = CWMargin(kappa=kappa)
    x, ys = sub.x0.clone(), sub.x0.clone()
    succeeded = torch.zeros(n, dtype=torch.bool)
    prev = torch.full((n,), torch.inf, dtype=sub.x0.dtype)
    check = max(1, steps // 10)
    act = torch.arange(n)
    part = sub
    shape = [1] * (sub.x0.dim() - 1)
    for k in range(steps):
        alpha = lr * (1 - k / steps) ** 0.5
        ca = cc[act]
        _, _, g = part.value_and_grad(ys[act], objective, part.target)
        grad = -ca.reshape(-1, *shape) * g + 2 * (ys[act] - part.x0)
        new = shrink(ys[act] - alpha * grad, part.x0, beta, lo, hi)
        ys[act] = new + k / (k + 3) * (new - x[act])
        x[act] = new
        logits = part.white_box.logits(new, part.rows)
        marg = objective(logits, part.y, part.target)
        d = (new - part.x0).reshape(len(part), -1)
        l1, l2sq = d.abs().sum(dim=1), d.pow(2).sum(dim=1)
        ok = is_successful(logits, part.y, part.target) & (marg >= kappa) & within_cap(part, new)
        best.update(local[act], new, l1 if l1_rule else beta * l1 + l2sq, ok)
        succeeded[act] |= ok
        if abort_early and k % check == 0:
            loss = -ca * marg + beta * l1 + l2sq
            keep = still_improving(loss, prev, act)
            if keep.numel() == 0:
                break
            if keep.numel() < act.numel():
                act = act[keep]
                part = part.subset(keep)
    return succeeded


@dataclass(frozen=True)
class EAD(Attack):
    """Elastic-net attack (minimal L1/elastic-net distortion, white-box).

    Args:
        beta: weight β ≥ 0 of the L1 term (default 1e-3).
        rule: ``"en"`` picks the least β‖δ‖₁ + ‖δ‖₂² success, ``"l1"`` the least ‖δ‖₁.
        steps: iterations per value of c (default 1000, fewer when the loss stalls).
        search_steps: values of c tried per sample (default 9).
        initial_const: first c (default 1e-3).
        lr: initial step α₀ (FISTA, square-root decay) or Adam's lr (default 0.01).
        kappa: confidence κ ≥ 0 (default 0).
        abort_early: stop a sample's round when its loss stalls (default True).
        optimizer: ``"fista"`` (EAD) or ``"tanh-adam"`` (the change-of-variable variant).

    Passes per sample: FISTA spends one gradient call and one forward pass per iteration,
    at most ``search_steps × steps`` gradient calls.
    """

    beta: float = 1e-3
    rule: Literal["en", "l1"] = "en"
    steps: int = 1000
    search_steps: int = 9
    initial_const: float = 1e-3
    lr: float = 0.01
    kappa: float = 0.0
    abort_early: bool = True
    optimizer: Literal["fista", "tanh-adam"] = "fista"

    info = AttackInfo(
        "ead",
        "minimal elastic net: EAD, FISTA + shrinkage, β=1e-3, EN rule, Chen et al. 2018",
        minimal=True,
    )

    def __post_init__(self) -> None:
        check_search(self.search_steps, self.steps, self.initial_const)
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.kappa < 0:
            raise ValueError(f"confidence kappa must be >= 0, got {self.kappa}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.rule not in ("en", "l1"):
            raise ValueError(f"rule must be 'en' or 'l1', got {self.rule!r}")
        if self.optimizer not in ("fista", "tanh-adam"):
            raise ValueError(f"optimizer must be 'fista' or 'tanh-adam', got {self.optimizer!r}")

    def run(self, problem: Problem) -> Tensor:
        best = start_smallest(problem)
        l1_rule = self.rule == "l1"

        def run_round(sub: Problem, local: Tensor, c: Tensor) -> Tensor:
            if self.optimizer == "fista":
                return _fista_round(
                    sub,
                    local,
                    c,
                    best,
                    steps=self.steps,
                    lr=self.lr,
                    kappa=self.kappa,
                    beta=self.beta,
                    l1_rule=l1_rule,
                    abort_early=self.abort_early,
                )
            return adam_round(
                sub,
                local,
                c,
                best,
                steps=self.steps,
                lr=self.lr,
                kappa=self.kappa,
                beta=self.beta,
                l1_rule=l1_rule,
                tanh=True,
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
