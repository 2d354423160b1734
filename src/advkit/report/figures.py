"""The report's plots: matplotlib figures inlined as base64 PNG ``data:`` URIs.

Problem solved: a report that links its plots breaks when it is mailed or moved; one that
fetches a plotting script needs the network. Each plot here is drawn by matplotlib (the
``plots`` extra, :func:`advkit.evaluate.figures.pyplot`) and returned as a
:class:`Figure`: the PNG as a ``data:`` URI the page embeds, with a text alternative that
states its numbers (for screen readers, and for anyone checking the plot).

Example:
    >>> from advkit.report.figures import curve_figure
    >>> fig = curve_figure([(0.05, 0.8), (0.1, 0.4)], None, 0.9, "L∞")
    >>> fig.uri.startswith("data:image/png;base64,")
    True
    >>> fig.alt.split(";")[0]
    'Robust accuracy against ε (L∞ norm): ε=0.05: 80.00%'
"""

from __future__ import annotations

import base64
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from advkit.evaluate.figures import pyplot

__all__ = ["Figure", "curve_figure", "histogram_figure", "percent", "png_uri"]

PURPOSE = "the HTML report"


@dataclass(frozen=True)
class Figure:
    """One plot of the report.

    Attributes:
        uri: the PNG as a ``data:image/png;base64,...`` URI.
        alt: the text alternative: what the plot shows, with its numbers.
    """

    uri: str
    alt: str


def percent(value: float) -> str:
    """A fraction as a percentage with two decimals (``0.775`` → ``"77.50%"``)."""
    return f"{100 * value:.2f}%"


def curve_figure(
    robust: Sequence[tuple[float, float]],
    certified: Sequence[tuple[float, float]] | None,
    clean: float,
    norm: str,
) -> Figure:
    """Robust accuracy against ε, with the certified curve and the band between them.

    Args:
        robust: (ε, robust accuracy) per ε, increasing.
        certified: (ε, certified accuracy) per ε, or None when nothing was certified.
        clean: the clean accuracy (a dashed line).
        norm: the threat's norm for the axis label (``"L∞"``).
    """
    plt = pyplot(PURPOSE)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    eps = [e for e, _ in robust]
    upper = [100 * a for _, a in robust]
    ax.axhline(100 * clean, color="grey", linestyle="--", label="clean accuracy")
    ax.plot(eps, upper, "o-", label="under attack (upper bound)")
    alt = f"Robust accuracy against ε ({norm} norm): " + "; ".join(
        f"ε={e:g}: {percent(a)}" for e, a in robust
    )
    if certified:
        lower = [100 * a for _, a in certified]
        ax.plot([e for e, _ in certified], lower, "s-", label="certified (lower bound)")
        ax.fill_between(eps, lower, upper, alpha=0.2, label="true value lies here")
        alt += ". Certified: " + "; ".join(f"ε={e:g}: {percent(a)}" for e, a in certified)
    ax.set_xlabel(f"ε (perturbation radius, {norm} norm, input units)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return Figure(png_uri(plt, fig), f"{alt}. Clean accuracy {percent(clean)}.")


def histogram_figure(distances: Sequence[float], norm: str, what: str) -> Figure:
    """How far the adversarial examples lie from their clean inputs.

    Args:
        distances: one distance per broken sample, in the threat's norm (not empty).
        norm: the norm's name for the axis label.
        what: what the distances are, for the text (``"minimal distances of deepfool"``).
    """
    plt = pyplot(PURPOSE)
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.hist(list(distances), bins=min(20, max(1, len(distances))), color="#c0504d")
    ax.set_xlabel(f"distance ‖x_adv − x‖ ({norm} norm, input units)")
    ax.set_ylabel("samples")
    ax.grid(alpha=0.3)
    alt = (
        f"Histogram of {what}: {len(distances)} samples, smallest {min(distances):.4g}, "
        f"median {statistics.median(distances):.4g}, largest {max(distances):.4g}."
    )
    return Figure(png_uri(plt, fig), alt)


def png_uri(plt: Any, fig: Any) -> str:
    """``fig`` as a PNG data URI; the figure is closed."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
