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
from typing import TypeVar

import torch
from torch import Tensor

from advkit.attacks._search_on_c import SearchOnC, check_search
from advkit.engine import Adam, AttackInfo, Evaluation, Round
from advkit.objectives import CWMargin, Objective

TANH_SHRINK = 0.999999
"""x0 is scaled by this before atanh in the change of variables, so pixels at exactly the
box edge stay finite (Carlini & Wagner's reference code does the same)."""

__all__ = ["CW", "AdamState", "ElasticNetSearch", "PenaltyState", "cw_loss", "l1_and_l2sq"]

S = TypeVar("S")


def l1_and_l2sq(delta: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample ‖δ‖₁ and ‖δ‖₂² of a batch of perturbations, shapes (N,)."""
    flat = delta.reshape(delta.shape[0], -1)
    return flat.abs().sum(dim=1), flat.pow(2).sum(dim=1)


def cw_loss(
    logits: Tensor, x: Tensor, x0: Tensor, y: Tensor, target: Tensor | None, c: Tensor, kappa: float
) -> Tensor:
    """C&W's per-sample objective ‖x − x0‖₂² + c·f(x) (to minimize), shape (N,)."""
    return l1_and_l2sq(x - x0)[1] + c * -CWMargin(kappa=kappa)(logits, y, target)


@dataclass
class PenaltyState:
    """What every round on distortion + c·f keeps per row.

    Attributes:
        c: (M,) each row's constant (in the inputs' dtype).
        prev: (M,) the loss at the last abort-early check (inf before the first).
    """

    c: Tensor
    prev: Tensor

    def c_rows(self, like: Tensor) -> Tensor:
        """c shaped to broadcast against a batch like ``like``."""
        return self.c.reshape(-1, *([1] * (like.dim() - 1)))


@dataclass
class AdamState(PenaltyState):
    """A round of Adam: the variable w (x = box(tanh w), or x itself when projected), the
    objective's gradient with respect to w at w, and Adam's moments."""

    w: Tensor
    grad: Tensor
    adam: Adam


class ElasticNetSearch(SearchOnC[S]):
    """Minimize β‖δ‖₁ + ‖δ‖₂² + c·f_κ(x) with a per-sample search on c (C&W, EAD).

    Each round (one value of c per row) runs ``steps`` iterations, each spending one
    gradient call; iteration 0 is the round's start. A successful iterate (goal met,
    margin ≥ κ, within the ε cap) is recorded by its distortion score: ‖δ‖₁ under the L1
    rule, else β‖δ‖₁ + ‖δ‖₂². With ``abort_early``, every max(1, steps // 10) iterations a
    row whose loss fell by less than 0.01% since the last check leaves the round.

    The optimizer given here is Adam (Kingma & Ba 2015) on w with x = box(tanh w)
    (:meth:`through_tanh`, Carlini & Wagner 2017) or on x clipped to the box; subclasses
    wire :meth:`adam_init` / :meth:`adam_step` as their ``init`` / ``step``.
    """

    steps: int
    lr: float
    kappa: float
    abort_early: bool

    def l1_weight(self) -> float:
        """β, the weight of ‖δ‖₁ in the objective (default 0: C&W)."""
        return 0.0

    def l1_rule(self) -> bool:
        """Whether a success is scored by ‖δ‖₁ alone (default: β‖δ‖₁ + ‖δ‖₂²)."""
        return False

    def through_tanh(self) -> bool:
        """Whether Adam runs on w with x = box(tanh w) (default) or on x, clipped."""
        return True

    def check_options(self) -> None:
        """Validate the options every attack of this family has."""
        check_search(self.search_steps, self.steps, self.initial_const)
        if self.kappa < 0:
            raise ValueError(f"confidence kappa must be >= 0, got {self.kappa}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def iterations(self, rnd: Round) -> int:
        return self.steps - 1

    def margin(self) -> Objective:
        """f_κ's margin (to maximize): f_κ = −margin."""
        return CWMargin(kappa=self.kappa)

    def start_penalty(self, rnd: Round) -> tuple[Tensor, Tensor]:
        """A round's :class:`PenaltyState` fields: its rows' c and a fresh abort-early
        record."""
        c = self.constants(rnd).to(rnd.problem.x0)
        return c, torch.full_like(c, torch.inf)

    def judge(self, rnd: Round, s: PenaltyState, x: Tensor, logits: Tensor, k: int) -> Evaluation:
        """Evaluate iterate k (its logits given): success, distortion score, abort-early."""
        p = rnd.problem
        marg = self.margin()(logits, p.y, p.target)
        l1, l2sq = l1_and_l2sq(x - p.x0)
        beta = self.l1_weight()
        ok = p.successful(logits) & (marg >= self.kappa) & p.within_cap(x)
        score = l1 if self.l1_rule() else beta * l1 + l2sq
        done = None
        if self.abort_early and k % max(1, self.steps // 10) == 0:
            loss = l2sq + beta * l1 - s.c * marg
            done = loss > s.prev * 0.9999
            s.prev = loss
        return Evaluation(x, score, ok, done)

    def adam_init(self, rnd: Round) -> tuple[AdamState, Evaluation]:
        """Start at x0 (w = atanh of x0 scaled into the open box, when through tanh)."""
        p = rnd.problem
        lo, hi = p.threat.lo, p.threat.hi
        w = p.x0
        if self.through_tanh():
            w = torch.atanh(((w - lo) / ((hi - lo) / 2) - 1) * TANH_SHRINK)
        s = AdamState(*self.start_penalty(rnd), w, torch.zeros_like(w), Adam.like(w, self.lr))
        return s, self._adam_evaluate(rnd, s, 0)

    def adam_step(self, rnd: Round, s: AdamState, k: int) -> Evaluation:
        """One Adam step on w (x clipped to the box when projected), then evaluate."""
        w = s.adam.step(s.w, s.grad)
        s.w = w if self.through_tanh() else w.clamp(rnd.problem.threat.lo, rnd.problem.threat.hi)
        return self._adam_evaluate(rnd, s, k)

    def _adam_evaluate(self, rnd: Round, s: AdamState, k: int) -> Evaluation:
        """One gradient call at x(w): the objective's gradient in w, and the evaluation."""
        p = rnd.problem
        lo, hi = p.threat.lo, p.threat.hi
        half = (hi - lo) / 2
        tanh_w = torch.tanh(s.w) if self.through_tanh() else None
        x = s.w if tanh_w is None else lo + half * (tanh_w + 1)
        logits, _, g = p.value_and_grad(x, self.margin(), p.target)
        delta = x - p.x0
        grad = 2 * delta + self.l1_weight() * delta.sign() - s.c_rows(x) * g
        s.grad = grad if tanh_w is None else grad * half * (1 - tanh_w**2)
        return self.judge(rnd, s, x, logits, k)


@dataclass(frozen=True)
class CW(ElasticNetSearch[AdamState]):
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
        self.check_options()

    def through_tanh(self) -> bool:
        return self.tanh

    def init(self, rnd: Round) -> tuple[AdamState, Evaluation]:
        return self.adam_init(rnd)

    def step(self, rnd: Round, state: AdamState, k: int) -> Evaluation:
        return self.adam_step(rnd, state, k)
