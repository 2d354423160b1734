"""An adaptive attack on a classifier guarded by a detector: misclassified *and* undetected.

Problem, per sample (Carlini & Wagner 2017, "Adversarial examples are not easily
detected"; the C&W L2 formulation with confidence κ)::

    minimize ‖x − x0‖₂² + c · [ f_κ(x) + w · max(log(s(x)/τ) − log r, 0) ]   over x in the box,

with f_κ C&W's logit loss (see :mod:`advkit.attacks.cw`), s the detector's score, τ its
threshold and r < 1 a safety ratio (default 0.9) so the point lands inside the accepted
region, not on its border. Success needs both: the model misclassifies x (or predicts the
target) and the detector does not flag it (s(x) ≤ τ). Each sample keeps its least-L2
success; c is searched per sample as for C&W (×10 until a success, bisection after). The
variable is x = box(tanh w) optimized by Adam, or x itself, clipped (``tanh=False``).

The attack queries the model through :class:`~advkit.access.GuardedView` (the logits
and the detector's log-score ratio) and :class:`~advkit.access.BPDAView`: the detector's
score is differentiated through BPDA for non-differentiable squeezers (identity backward
through bit-depth reduction, non-local means, ...) and by double back-propagation for a
gradient-norm score. A large κ
alone already evades many detectors (Sharma 2018, Tables 11–12: C&W and EAD reach near
100% against feature squeezing at κ = 30–40 on MNIST); the detector term makes the attack
adaptive at any κ.

Cost per step and sample: one gradient call of the guarded model (the model plus the
detector's score, e.g. 1 + number of squeezers forward/backward passes for feature
squeezing).

Threat model: the threat's ε is a cap on the threat's norm (``L2(math.inf)`` for none),
as for C&W.

Example:
    >>> import math, torch, advkit
    >>> from advkit.attacks.detector_evasion import EvadeDetector
    >>> from advkit.defenses.detectors import GradientNormDetector
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> det = GradientNormDetector(model)
    >>> _ = det.calibrate(torch.rand(40, 1, 4, 4))
    >>> x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), EvadeDetector(det, steps=20))
    >>> res.x_adv.shape
    torch.Size([4, 1, 4, 4])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from advkit.access import BPDAView, GuardedView
from advkit.attacks._search_on_c import check_search
from advkit.attacks.cw import AdamState, ElasticNetSearch, PenaltyState, l1_and_l2sq
from advkit.engine import AttackInfo, Best, Evaluation, Problem, Round
from advkit.objectives import CWMargin, is_successful
from advkit.traits import DetectorLike

__all__ = ["EvadeDetector", "EvasionLoss"]


@dataclass(frozen=True)
class EvasionLoss:
    """Objective (to maximize) on :class:`~advkit.access.GuardedView` outputs: C&W margin
    with κ minus ``weight`` × max(log(s/τ) − log(ratio), 0), the detector score's excess over
    ``ratio`` × threshold on a log scale (scores such as gradient norms span orders of
    magnitude near the decision boundary)."""

    kappa: float = 0.0
    weight: float = 1.0
    ratio: float = 0.9
    name: str = "evasion"

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        margin = CWMargin(kappa=self.kappa)(logits[:, :-1], y, target)
        return margin - self.weight * (logits[:, -1] - math.log(self.ratio)).clamp_min(0.0)


@dataclass(frozen=True, eq=False)
class EvadeDetector(ElasticNetSearch[AdamState]):
    """C&W-style attack on model + detector (white-box, adaptive to the detector).

    Args:
        detector: a calibrated detector guarding the attacked model
            (:class:`advkit.traits.DetectorLike`, e.g. ``FeatureSqueezing(model)``); its
            ``model`` must be the model passed to :func:`advkit.attack`.
        kappa: confidence κ ≥ 0 of the margin term (default 0).
        weight: weight w of the detector term relative to the margin (default 1).
        ratio: aim for a score below ``ratio`` × threshold (default 0.9).
        steps: Adam iterations per value of c (default 1000).
        search_steps: values of c tried per sample (default 9).
        initial_const: first c (default 1e-3).
        lr: Adam's learning rate (default 0.01).
        tanh: optimize through x = box(tanh w) (default True), else Adam on x with clipping.

    Gradient calls per sample: at most ``search_steps × steps`` (of the guarded model).
    """

    detector: DetectorLike
    kappa: float = 0.0
    weight: float = 1.0
    ratio: float = 0.9
    steps: int = 1000
    search_steps: int = 9
    initial_const: float = 1e-3
    lr: float = 0.01
    tanh: bool = True

    info = AttackInfo(
        "evade-detector",
        "minimal L2 evading a detector: C&W-style Adam on the guarded model, Carlini & Wagner 2017",
        minimal=True,
        listed=False,
    )

    def __post_init__(self) -> None:
        check_search(self.search_steps, self.steps, self.initial_const)
        if not isinstance(self.detector, DetectorLike):
            raise TypeError(
                "detector must be an advkit Detector (e.g. FeatureSqueezing(model)) or declare "
                f"advkit.traits.DetectorLike, got {type(self.detector).__name__}"
            )
        if not self.detector.calibrated:
            raise ValueError("calibrate the detector first: detector.calibrate(x_clean)")
        if self.kappa < 0:
            raise ValueError(f"confidence kappa must be >= 0, got {self.kappa}")
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {self.ratio}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def through_tanh(self) -> bool:
        return self.tanh

    def view(self, problem: Problem) -> Problem:
        """The guarded model (logits and the detector's log-score ratio) under BPDA."""
        if problem.white_box.model is not self.detector.model:
            raise ValueError(
                "the detector guards a different model than the one attacked: build the "
                "detector on the attacked model (e.g. FeatureSqueezing(model))"
            )
        guarded = problem.white_box.through(GuardedView(self.detector))
        return problem.with_oracle(guarded.through(BPDAView()))

    def begin(self, problem: Problem, context: object) -> Best:
        """Clean points the model misclassifies and the detector accepts need no attack."""
        return Best.minimizing(problem.x0, _evades(problem.logits(problem.x0), problem))

    def margin(self) -> EvasionLoss:
        return EvasionLoss(self.kappa, self.weight, self.ratio)

    def judge(self, rnd: Round, s: PenaltyState, x: Tensor, logits: Tensor, k: int) -> Evaluation:
        """Success: misclassified, undetected and within the cap; scored by ‖δ‖₂²."""
        p = rnd.problem
        ok = _evades(logits, p) & p.within_cap(x)
        return Evaluation(x, l1_and_l2sq(x - p.x0)[1], ok)

    def init(self, rnd: Round) -> tuple[AdamState, Evaluation]:
        return self.adam_init(rnd)

    def step(self, rnd: Round, state: AdamState, k: int) -> Evaluation:
        return self.adam_step(rnd, state, k)


def _evades(out: Tensor, problem: Problem) -> Tensor:
    """Misclassified (or on target) by the model and not flagged by the detector."""
    return is_successful(out[:, :-1], problem.y, problem.target) & (out[:, -1] <= 0)
