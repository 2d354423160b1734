"""The ROC curve of a detector: false-positive rate on clean inputs against the rate of
adversarial examples it flags, over every threshold, and the area under it.

A detector flags an input when its score exceeds the threshold (larger is more
suspicious, :class:`advkit.defenses.detectors.Detector`). Sweeping the threshold from
above the largest score down past the smallest traces the curve from (0, 0) to (1, 1);
the area under it is the probability that a random adversarial example scores above a
random clean input (ties count one half).

Example:
    >>> from advkit.report.roc import roc_auc, roc_points
    >>> roc_points([0.1, 0.2], [0.3, 0.15])
    [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
    >>> roc_auc(roc_points([0.1, 0.2], [0.3, 0.15]))
    0.75
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

__all__ = ["roc_auc", "roc_points"]


def roc_points(clean: Sequence[float], adversarial: Sequence[float]) -> list[tuple[float, float]]:
    """The (false-positive rate, detection rate) of every threshold, from (0, 0) to (1, 1).

    Args:
        clean: the detector's scores of clean inputs (not empty).
        adversarial: its scores of adversarial examples (not empty).

    Raises:
        ValueError: either list is empty, or a score is not a finite number.
    """
    if not clean or not adversarial:
        raise ValueError("an ROC curve needs scores of clean inputs and of adversarial examples")
    if not all(math.isfinite(s) for s in [*clean, *adversarial]):
        raise ValueError("detector scores must be finite numbers to draw an ROC curve")
    points = [(0.0, 0.0)]
    for threshold in sorted({*clean, *adversarial}, reverse=True):
        fpr = sum(s >= threshold for s in clean) / len(clean)
        tpr = sum(s >= threshold for s in adversarial) / len(adversarial)
        points.append((fpr, tpr))
    return points


def roc_auc(points: Sequence[tuple[float, float]]) -> float:
    """The area under the curve ``points`` (:func:`roc_points`), by the trapezoid rule."""
    pairs = itertools.pairwise(points)
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in pairs)
