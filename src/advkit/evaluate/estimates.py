"""Per-sample robustness estimates of ``advkit.evaluate(..., estimates=True)``.

Each sample's record gets its CLEVER score (:class:`~advkit.evaluate.clever.Clever`,
sampled in the ball of the main ε, so the score is at most that ε) and, where
:func:`~advkit.evaluate.lipschitz.margin_lipschitz` applies (chains of affine layers and
ReLUs, L∞ or L2), the certified margin radius of Hein & Andriushchenko 2017.

CLEVER is an estimate, never a certificate. A sample an attack broke at a distance
*below* its CLEVER score is flagged (:func:`clever_overestimates`): the estimate missed
the largest gradients, the known failure of CLEVER on gradient-masked models.

The settings are kept small, since they run on every sample: :data:`CLEVER_BATCHES`
batches of :data:`CLEVER_BATCH_SIZE` points (500 gradient computations per sample and
class, against the paper's 50 × 100).

Example:
    >>> import torch
    >>> from advkit import L2
    >>> from advkit.evaluate.estimates import sample_estimates
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2)).eval()
    >>> clever, radius = sample_estimates(
    ...     net, torch.rand(3, 2), torch.tensor([0, 1, 0]), torch.arange(3), L2(1.0), seed=0)
    >>> len(clever), len(radius)
    (3, 3)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from advkit.evaluate.clever import Clever
from advkit.evaluate.lipschitz import margin_radius
from advkit.evaluate.records import SampleRecord
from advkit.threat import ThreatModel

__all__ = [
    "CLEVER_BATCHES",
    "CLEVER_BATCH_SIZE",
    "ESTIMATE_NOTE",
    "check_estimable",
    "clever_overestimates",
    "estimate_settings",
    "estimates_lines",
    "estimates_summary",
    "sample_estimates",
]

CLEVER_BATCHES = 10
"""Batches of sampled gradient norms whose maxima CLEVER fits, per sample."""

CLEVER_BATCH_SIZE = 50
"""Points per batch."""

ESTIMATE_NOTE = (
    "CLEVER is an estimate of the robustness radius, never a certificate; the margin "
    "radius is certified"
)
"""What the printed output and the JSON say about the estimates."""


def check_estimable(threat: ThreatModel) -> None:
    """Raise unless CLEVER can sample in the ball of the threat's main ε."""
    eps = float(threat.eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(
            f"estimates sample CLEVER's gradients in the ball of the main ε, which must be "
            f"finite and > 0, not {eps}; give one, e.g. --eps 0.3"
        )


def estimate_settings(threat: ThreatModel) -> dict[str, float | int]:
    """The CLEVER settings an evaluation's records depend on (they enter its store)."""
    return {"radius": float(threat.eps), "batches": CLEVER_BATCHES, "size": CLEVER_BATCH_SIZE}


def sample_estimates(
    model: nn.Module, x: Tensor, y: Tensor, index: Tensor, threat: ThreatModel, seed: int
) -> tuple[list[float], list[float | None]]:
    """Each sample's CLEVER score and margin radius (None where the bound does not apply).

    Args:
        model: the classifier (evaluated as given, in eval mode).
        x: inputs (N, ...); y: labels (N,); index: the samples' indices (their streams).
        threat: the norm and, as ε, CLEVER's sampling radius.
        seed: seed of CLEVER's sampling.
    """
    clever = Clever(threat, CLEVER_BATCHES, CLEVER_BATCH_SIZE, seed)
    scores = clever.estimate(model, x, y, index).score.tolist()
    try:
        radius: list[float | None] = [*margin_radius(model, x, y, threat).tolist()]
    except (TypeError, ValueError):  # not a chain of affine layers and ReLUs, or L1
        radius = [None] * len(scores)
    return scores, radius


def clever_overestimates(records: Iterable[SampleRecord]) -> list[int]:
    """The indices of samples an attack broke at a distance below their CLEVER score."""
    return [r.index for r in records if r.clever_overestimated]


def estimates_summary(samples: dict[float, list[SampleRecord]]) -> dict[str, Any] | None:
    """The JSON summary of an evaluation's estimates, or None when none were asked.

    Example:
        >>> from advkit.evaluate.records import SampleRecord
        >>> rec = SampleRecord(0, 1, 1, True).estimated(0.3, None).broken("pgd", 0.1)
        >>> estimates_summary({0.3: [rec]})["clever_overestimated"]
        [0]
    """
    every = [r for recs in samples.values() for r in recs]
    if not any(r.clever is not None for r in every):
        return None
    return {
        "note": ESTIMATE_NOTE,
        "clever": {"batches": CLEVER_BATCHES, "batch_size": CLEVER_BATCH_SIZE},
        "clever_overestimated": sorted(set(clever_overestimates(every))),
    }


def estimates_lines(summary: dict[str, Any]) -> list[str]:
    """The terminal lines of :func:`estimates_summary`: the note and the flagged samples."""
    lines = [f"estimates        {summary['note']}."]
    flagged = summary["clever_overestimated"]
    if flagged:
        shown = ", ".join(str(i) for i in flagged[:20]) + (" ..." if len(flagged) > 20 else "")
        lines.append(
            f"WARNING: an attack found a smaller distance than CLEVER's estimate on "
            f"{len(flagged)} sample(s) ({shown}): CLEVER missed the largest gradients "
            "there, as it does on gradient-masked models; trust the attack's distance"
        )
    return lines
