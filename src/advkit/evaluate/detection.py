"""Evaluate a detector: clean false positives, detection of plain attacks, adaptive success.

For a classifier guarded by a calibrated detector, an attack succeeds only if the model
misclassifies its point (or predicts the target) **and** the detector accepts it. The
report gives, on held-out clean data, the detector's false-positive rate, and for each
attack (on the samples the model classifies correctly):

- ``success``: the model alone is fooled;
- ``detected``: the fraction of those fooling points that the detector flags;
- ``evasion``: fooled and not flagged, the attack's success against model + detector;
- the mean L1/L2/L∞ distortion of the evading points;
- ``scores``: the detector's scores of the fooling points, and ``adaptive``: whether the
  attack was given this detector (it attacks model + detector).

With the detector's scores of the clean data (``clean_scores``) these give the
detector's ROC curve against each attack.

Plain attacks (C&W, EAD at κ = 0) are the non-adaptive baseline; an honest evaluation
adds :class:`~advkit.attacks.detector_evasion.EvadeDetector`, which knows the detector.

Example:
    >>> import math, torch, advkit
    >>> from advkit.attacks.detector_evasion import EvadeDetector
    >>> from advkit.defenses.detectors import GradientNormDetector
    >>> from advkit.evaluate.detection import evaluate_detector
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> det = GradientNormDetector(model)
    >>> _ = det.calibrate(torch.rand(40, 1, 4, 4))
    >>> x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    >>> rep = evaluate_detector(model, det, (x, y), {"adaptive": EvadeDetector(det, steps=10)})
    >>> sorted(rep.rows[0])[:4]
    ['adaptive', 'attack', 'detected', 'evasion']
    >>> rep.rows[0]["adaptive"], len(rep.clean_scores)
    (True, 6)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.attacks.run import Attack, attack
from advkit.defenses.detectors import Detector
from advkit.result import AttackResult
from advkit.threat import L2, ThreatModel

__all__ = ["DetectionReport", "detection_row", "evaluate_detector"]


@dataclass(frozen=True)
class DetectionReport:
    """What :func:`evaluate_detector` measured.

    Attributes:
        detector: the detector's class name.
        threshold: its calibrated threshold.
        target_fpr: the false-positive rate it was calibrated for.
        fpr: the false-positive rate measured on the evaluated clean data.
        n: evaluated samples; correct: those the model classifies correctly.
        rows: one dict per attack (see the module docstring).
        clean_scores: the detector's scores of the evaluated clean data.
    """

    detector: str
    threshold: float
    target_fpr: float
    fpr: float
    n: int
    correct: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    clean_scores: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "threshold": self.threshold,
            "target_fpr": self.target_fpr,
            "fpr": self.fpr,
            "n": self.n,
            "correct": self.correct,
            "attacks": self.rows,
            "clean_scores": self.clean_scores,
        }

    def table(self) -> str:
        """A plain-text table of the report."""
        lines = [
            f"detector {self.detector}: threshold {self.threshold:.4g}, clean false positives "
            f"{100 * self.fpr:.1f}% (target {100 * self.target_fpr:.0f}%) on {self.n} samples",
            f"attacks on the {self.correct} correctly classified samples:",
            f"{'attack':<28}{'fooled':>8}{'detected':>10}{'evasion':>9}{'L1':>9}{'L2':>8}"
            f"{'Linf':>7}",
        ]
        for r in self.rows:
            lines.append(
                f"{r['attack']:<28}{100 * r['success']:7.1f}%{100 * r['detected']:9.1f}%"
                f"{100 * r['evasion']:8.1f}%{r['l1']:9.3g}{r['l2']:8.3g}{r['linf']:7.3g}"
            )
        return "\n".join(lines)


def _mean(values: Tensor) -> float:
    return float(values.mean()) if values.numel() else math.nan


def detection_row(detector: Detector, name: str, result: AttackResult) -> dict[str, Any]:
    """One report row for an attack's result against a calibrated detector.

    Keys: ``attack``, ``success`` (model fooled), ``detected`` (fraction of the fooling
    points flagged), ``evasion`` (fooled and not flagged), ``l1``/``l2``/``linf`` (mean
    distortion of the evading points; NaN when none evades), ``scores`` (the detector's
    scores of the fooling points).
    """
    flagged = detector.detect(result.x_adv)
    evading = result.success & ~flagged
    delta = (result.x_adv - result.x).reshape(result.x.shape[0], -1)[evading]
    return {
        "attack": name,
        "success": float(result.success.float().mean()),
        "detected": _mean((flagged & result.success).float()[result.success]),
        "evasion": float(evading.float().mean()),
        "l1": _mean(delta.abs().sum(dim=1)),
        "l2": _mean(delta.norm(dim=1)),
        "linf": _mean(delta.abs().amax(dim=1)),
        "scores": detector.scores(result.x_adv[result.success]).tolist()
        if bool(result.success.any())
        else [],
    }


def evaluate_detector(
    model: nn.Module,
    detector: Detector,
    data: tuple[Tensor, Tensor],
    attacks: Mapping[str, Attack],
    *,
    threat: ThreatModel | None = None,
    seed: int = 0,
) -> DetectionReport:
    """Measure a calibrated detector's false positives and each attack's evasion rate.

    Args:
        model: the classifier (returning logits) that ``detector`` guards.
        detector: a detector calibrated on clean data *other than* ``data``.
        data: held-out clean (x, y) to measure false positives on and to attack.
        attacks: name -> attack config, e.g. ``{"C&W": CW(), "adaptive":
            EvadeDetector(detector, kappa=10)}``.
        threat: the threat model (default ``L2(math.inf)``: minimal-distortion attacks
            with no cap, as in Carlini & Wagner and Sharma's Tables 11–12).
        seed: seed of the attacks' random choices.

    Returns:
        A :class:`DetectionReport`.
    """
    if detector.model is not model:
        raise ValueError("the detector guards a different model than the one evaluated")
    if not detector.calibrated:
        raise ValueError("calibrate the detector first: detector.calibrate(x_clean_held_out)")
    x, y = data
    threat = threat if threat is not None else L2(math.inf)
    fpr = detector.false_positive_rate(x)
    with eval_mode(model), torch.no_grad():
        correct = model(x).argmax(dim=1) == y
    idx = correct.nonzero().squeeze(1)
    rows = []
    for name, method in attacks.items():
        if idx.numel() == 0:
            break
        res = attack(model, x[idx], y[idx], threat, method, seed=seed, index=idx)
        # adaptive: the attack was handed this detector (EvadeDetector and its kind)
        adaptive = getattr(method, "detector", None) is detector
        rows.append({**detection_row(detector, name, res), "adaptive": adaptive})
    return DetectionReport(
        detector=type(detector).__name__,
        threshold=detector.threshold,
        target_fpr=detector.target_fpr,
        fpr=fpr,
        n=x.shape[0],
        correct=int(correct.sum()),
        rows=rows,
        clean_scores=detector.scores(x).tolist(),
    )
