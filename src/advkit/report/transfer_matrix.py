"""What the report of ``advkit transfer`` results shows: the transferability heat map.

Problem solved: a matrix of success rates is read faster as colours than as digits, and
read correctly only with its definition beside it. This module turns the JSON of
``advkit transfer`` into the page's parts: the run, the heat map (examples crafted on
the row's model, tested on the column's), the same numbers as a table, and the
samples each target classifies correctly (the denominator of its column).

Example:
    >>> from pathlib import Path
    >>> from advkit.report.transfer_matrix import transfer_page
    >>> page = transfer_page({"sources": ["a", "b"], "targets": ["a", "b"],
    ...     "success_rate": [[1.0, 0.25], [0.5, 0.9]], "correct_clean": [8, 9]}, Path("t.json"))
    >>> [cell.rate for cell in page["rows"][0].cells]
    [1.0, 0.25]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advkit.evaluate.figures import pyplot
from advkit.report.figures import PURPOSE, Figure, percent, png_uri
from advkit.report.run_info import number, run_info

__all__ = ["Cell", "SourceRow", "heat_map", "transfer_page"]


@dataclass(frozen=True)
class Cell:
    """One entry of the matrix.

    Attributes:
        target: the model the examples were tested on.
        rate: the fraction of the samples the target classifies correctly that the
            examples made it misclassify (NaN when it classifies none correctly).
    """

    target: str
    rate: float


@dataclass(frozen=True)
class SourceRow:
    """One row: the examples crafted on ``source``.

    Attributes:
        source: the model (or the ensemble of the others) the examples were crafted on.
        cells: one :class:`Cell` per target.
    """

    source: str
    cells: list[Cell]


def transfer_page(results: dict[str, Any], path: Path) -> dict[str, Any]:
    """The template variables of the report of ``advkit transfer`` results.

    Args:
        results: the JSON ``advkit transfer --out`` wrote.
        path: where it was read from.
    """
    targets = [str(t) for t in results.get("targets", [])]
    rows = [
        SourceRow(str(source), [Cell(t, number(r)) for t, r in zip(targets, rates, strict=True)])
        for source, rates in zip(results.get("sources", []), results.get("success_rate", []),
                                 strict=True)
    ]  # fmt: skip
    extra = [("attack", "attack", results.get("attack"))]
    return {
        "kind": "transfer",
        "info": run_info(results, path, extra),
        "targets": targets,
        "correct": dict(zip(targets, results.get("correct_clean", []), strict=False)),
        "rows": rows,
        "figure": heat_map(rows, targets) if rows and targets else None,
    }


def heat_map(rows: list[SourceRow], targets: list[str]) -> Figure:
    """The matrix as a heat map in percent, each cell labelled with its value.

    Args:
        rows: the matrix's rows (not empty).
        targets: the columns' models.
    """
    plt = pyplot(PURPOSE)
    data = [[100 * c.rate for c in row.cells] for row in rows]
    fig, ax = plt.subplots(figsize=(2.4 + 1.2 * len(targets), 1.6 + 0.6 * len(rows)))
    image = ax.imshow(data, vmin=0, vmax=100, cmap="viridis")
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [row.source for row in rows])
    ax.set_xlabel("target model (examples tested on)")
    ax.set_ylabel("source model (examples crafted on)")
    for i, values in enumerate(data):
        for j, v in enumerate(values):
            text = "n/a" if math.isnan(v) else f"{v:.0f}"
            ax.text(j, i, text, ha="center", va="center", color="w" if v < 60 else "k")
    fig.colorbar(image, ax=ax, label="transfer success rate (%)")
    alt = "; ".join(
        f"crafted on {row.source}: "
        + ", ".join(f"{c.target} {'n/a' if math.isnan(c.rate) else percent(c.rate)}"
                    for c in row.cells)
        for row in rows
    )  # fmt: skip
    return Figure(png_uri(plt, fig), f"Transferability heat map (success rate, %). {alt}.")
