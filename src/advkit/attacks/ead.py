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

from advkit.attacks.cw import AdamState, ElasticNetSearch, PenaltyState, l1_and_l2sq
from advkit.engine import AttackInfo, Evaluation, Round
from advkit.objectives import CWMargin

__all__ = ["EAD", "FistaState", "ead_loss", "shrink"]


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
    l1, l2sq = l1_and_l2sq(x - x0)
    f = -CWMargin(kappa=kappa)(logits, y, target)
    return c * f + beta * l1 + l2sq


@dataclass
class FistaState(PenaltyState):
    """A round of FISTA: the iterate x⁽ᵏ⁾ and the extrapolated point y⁽ᵏ⁾."""

    x: Tensor
    y: Tensor


@dataclass(frozen=True)
class EAD(ElasticNetSearch[AdamState | FistaState]):
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
        self.check_options()
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.rule not in ("en", "l1"):
            raise ValueError(f"rule must be 'en' or 'l1', got {self.rule!r}")
        if self.optimizer not in ("fista", "tanh-adam"):
            raise ValueError(f"optimizer must be 'fista' or 'tanh-adam', got {self.optimizer!r}")

    def l1_weight(self) -> float:
        return self.beta

    def l1_rule(self) -> bool:
        return self.rule == "l1"

    def init(self, rnd: Round) -> tuple[AdamState | FistaState, Evaluation]:
        if self.optimizer == "tanh-adam":
            return self.adam_init(rnd)
        x0 = rnd.problem.x0
        s = FistaState(*self.start_penalty(rnd), x0, x0)
        return s, self._fista(rnd, s, 0)

    def step(self, rnd: Round, state: AdamState | FistaState, k: int) -> Evaluation:
        if isinstance(state, AdamState):
            return self.adam_step(rnd, state, k)
        return self._fista(rnd, state, k)

    def _fista(self, rnd: Round, s: FistaState, k: int) -> Evaluation:
        """FISTA iteration k (0-based): one gradient call at y, one forward pass at the new x."""
        p = rnd.problem
        alpha = self.lr * (1 - k / self.steps) ** 0.5
        _, _, g = p.value_and_grad(s.y, self.margin(), p.target)
        grad = -s.c_rows(s.y) * g + 2 * (s.y - p.x0)
        new = shrink(s.y - alpha * grad, p.x0, self.beta, p.threat.lo, p.threat.hi)
        s.y = new + k / (k + 3) * (new - s.x)
        s.x = new
        return self.judge(rnd, s, new, p.logits(new), k)
