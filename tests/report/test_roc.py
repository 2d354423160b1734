"""The detector's ROC curve and its area, checked against scikit-learn's."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from advkit.report.roc import roc_auc, roc_points


def test_the_area_agrees_with_scikit_learn_ties_included() -> None:
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 6, (40,), generator=g).double().tolist()
    adversarial = (torch.randint(0, 6, (25,), generator=g) + 1).double().tolist()
    points = roc_points(clean, adversarial)
    assert points[0] == (0.0, 0.0) and points[-1] == (1.0, 1.0)
    labels = [0] * len(clean) + [1] * len(adversarial)
    assert roc_auc(points) == pytest.approx(roc_auc_score(labels, clean + adversarial))


def test_a_perfect_detector_has_area_one() -> None:
    assert roc_auc(roc_points([0.1, 0.2], [0.5, 0.9])) == 1.0


@pytest.mark.parametrize(
    ("clean", "adversarial", "message"),
    [([], [1.0], "needs scores"), ([1.0], [math.nan], "finite")],
)
def test_no_curve_without_finite_scores_of_both(
    clean: list[float], adversarial: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        roc_points(clean, adversarial)
