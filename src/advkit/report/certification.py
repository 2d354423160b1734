"""What the report of ``advkit certify`` results shows: what was proven, and what was not.

Problem solved: a certified accuracy is a proof, and the page must say what it proves
and what remains open. This module turns the JSON of ``advkit certify`` into the page's
parts: the run, clean and certified accuracy (a proven lower bound on robust accuracy),
the bound the refuted samples give from above, the count per status and the histogram
of the margin lower bounds (a sample is certified when its bound is above zero).

Example:
    >>> from pathlib import Path
    >>> from advkit.report.certification import certify_page
    >>> results = {"n": 2, "attacked": 1, "samples": [
    ...     {"index": 0, "label": 1, "lower": 0.3, "status": "certified"},
    ...     {"index": 1, "label": 2, "lower": -0.5, "status": "attacked"}]}
    >>> page = certify_page(results, Path("c.json"))
    >>> page["counts"], page["upper"]
    ({'certified': 1, 'attacked': 1, 'unknown': 0}, 0.5)
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from advkit.evaluate.figures import pyplot
from advkit.report.figures import PURPOSE, Figure, png_uri
from advkit.report.run_info import number, run_info

__all__ = ["STATUSES", "certify_page", "margin_figure"]

STATUSES = ("certified", "attacked", "unknown")
"""The statuses of a sample, as ``advkit certify`` writes them."""


def certify_page(results: dict[str, Any], path: Path) -> dict[str, Any]:
    """The template variables of the report of ``advkit certify`` results.

    Args:
        results: the JSON ``advkit certify --out`` wrote.
        path: where it was read from.
    """
    samples = results.get("samples", [])
    counts = {s: sum(r["status"] == s for r in samples) for s in STATUSES}
    n = int(results.get("n", len(samples)))
    lower = [number(r["lower"]) for r in samples]
    extra = [("method", "certifier", results.get("method"))]
    return {
        "kind": "certify",
        "info": run_info(results, path, extra),
        "n": n,
        "clean": number(results.get("clean_accuracy", "nan")),
        "certified": number(results.get("certified_accuracy", "nan")),
        "upper": (n - int(results.get("attacked", 0))) / n if n else math.nan,
        "counts": counts,
        "figure": margin_figure(lower) if any(math.isfinite(v) for v in lower) else None,
    }


def margin_figure(lower: list[float]) -> Figure:
    """The histogram of the per-sample margin lower bounds, with the line at zero.

    Args:
        lower: the lower bound of z_y − max_{j≠y} z_j over the ball, per sample; the
            non-finite ones are left out and counted in the text.
    """
    finite = [v for v in lower if math.isfinite(v)]
    plt = pyplot(PURPOSE)
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.hist(finite, bins=min(30, max(1, len(finite))), color="#4f81bd")
    ax.axvline(0.0, color="#c0504d", linestyle="--", label="0: certified to the right")
    ax.set_xlabel("lower bound of the logit margin z_y − max z_j over the ball (logits)")
    ax.set_ylabel("samples")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    above = sum(v > 0 for v in finite)
    alt = (
        f"Histogram of the margin lower bounds of {len(finite)} samples: smallest "
        f"{min(finite):.4g}, median {statistics.median(finite):.4g}, largest "
        f"{max(finite):.4g}; {above} above zero"
    )
    if len(finite) < len(lower):
        alt += f"; {len(lower) - len(finite)} not finite, not drawn"
    return Figure(png_uri(plt, fig), alt + ".")
