"""The estimates part of the report of ``advkit evaluate --estimates`` results.

Problem solved: the page must put each sample's attack distance (an upper bound on its
minimal adversarial distance), its CLEVER score (an estimate, never a certificate) and
its certified margin radius (a lower bound) side by side, and name the samples where an
attack found a distance below CLEVER's estimate. This module reads them off the records
at the main ε, with a scatter plot of the attack distance against CLEVER; results
without estimates have no such part (None).

Example:
    >>> from advkit.report.estimates import estimates_part
    >>> rec = {"index": 0, "label": 1, "distance": 0.1, "clever": 0.3,
    ...        "margin_radius": None, "clever_overestimated": True}
    >>> part = estimates_part({"eps": 0.3, "estimates": {"clever_overestimated": [0]},
    ...                        "samples": {"0.3": [rec]}})
    >>> part.flagged, part.rows[0].flagged
    ([0], True)
    >>> estimates_part({"eps": 0.3, "samples": {}}) is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advkit.evaluate.figures import pyplot
from advkit.report.figures import Figure, png_uri
from advkit.report.run_info import norm_label

__all__ = ["ESTIMATE_ROWS", "EstimateRow", "EstimatesPart", "estimates_figure", "estimates_part"]

ESTIMATE_ROWS = 50
"""The most samples the estimates table shows (the JSON has them all)."""


@dataclass(frozen=True)
class EstimateRow:
    """One sample's distance and estimates at the main ε.

    Attributes:
        index: the sample's index; label: its true label.
        distance: the distance of the attack's example (0.0 when misclassified clean),
            or None when no attack broke it.
        clever: its CLEVER score (an estimate); margin_radius: its certified margin
            radius, or None where the bound does not apply.
        flagged: an attack found a distance below the CLEVER score.
    """

    index: int
    label: int
    distance: float | None
    clever: float | None
    margin_radius: float | None
    flagged: bool


@dataclass(frozen=True)
class EstimatesPart:
    """What the estimates section shows.

    Attributes:
        eps: the main ε the records belong to.
        rows: the first :data:`ESTIMATE_ROWS` samples.
        total: how many samples the records hold.
        flagged: the indices of the samples CLEVER overestimated (every ε).
        figure: the attack distance against CLEVER per broken sample, or None when no
            attack broke a sample that has a CLEVER score.
    """

    eps: Any
    rows: list[EstimateRow]
    total: int
    flagged: list[int]
    figure: Figure | None


def estimates_part(results: dict[str, Any]) -> EstimatesPart | None:
    """The estimates section of evaluate results, or None when they carry no estimates.

    Args:
        results: the JSON of ``advkit evaluate --estimates``.
    """
    summary = results.get("estimates")
    if not summary:
        return None
    records = results.get("samples", {}).get(str(results.get("eps")), [])
    every = [
        EstimateRow(
            index=int(r["index"]),
            label=int(r["label"]),
            distance=r.get("distance"),
            clever=r.get("clever"),
            margin_radius=r.get("margin_radius"),
            flagged=bool(r.get("clever_overestimated")),
        )
        for r in records
    ]
    flagged = [int(i) for i in summary.get("clever_overestimated", [])]
    broken = [r for r in every if r.clever is not None and r.distance and r.distance > 0]
    figure = estimates_figure(broken, norm_label(results)) if broken else None
    return EstimatesPart(results.get("eps"), every[:ESTIMATE_ROWS], len(every), flagged, figure)


def estimates_figure(rows: list[EstimateRow], norm: str) -> Figure:
    """The attack distance against the CLEVER estimate of the samples an attack broke
    (not empty, each with a CLEVER score): points below the diagonal are flagged.

    Args:
        rows: the samples; norm: the threat's norm for the axis labels (``"L∞"``).
    """
    plt = pyplot("the HTML report")
    fig, ax = plt.subplots(figsize=(4.5, 4.0))
    clever = [float(r.clever or 0.0) for r in rows]
    ax.scatter(clever, [r.distance for r in rows], s=14, label="attack distance")
    top = max([*clever, *(float(r.distance or 0.0) for r in rows)])
    ax.plot([0, top], [0, top], "--", color="grey", label="distance = CLEVER")
    ax.set_xlabel(f"CLEVER estimate ({norm} norm, input units)")
    ax.set_ylabel(f"attack distance ({norm} norm, input units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    below = sum(1 for r in rows if r.flagged)
    alt = (
        f"CLEVER estimate against attack distance for the {len(rows)} samples an attack "
        f"broke: {below} lie below the diagonal (CLEVER overestimated their radius); "
        f"CLEVER from {min(clever):.4g} to {max(clever):.4g}."
    )
    return Figure(png_uri(plt, fig), alt)
