"""What the report of ``advkit train`` results shows: the training curves.

Problem solved: a training history is a column of numbers per epoch; whether the loss
went down, whether robust accuracy rose with clean accuracy, and where certified
accuracy sits are seen at a glance on a plot. This module turns the JSON that
``advkit train`` writes beside the weights into the page's parts: the run, the last
epoch's accuracies, one figure (loss, and accuracies per epoch) and the table of epochs.
The robust accuracy is the training monitor's PGD-10 on the held-out samples: an upper
bound, and a quick one; the page says so.

Example:
    >>> from pathlib import Path
    >>> from advkit.report.training import training_page
    >>> page = training_page({"method": "pgd", "history": []}, Path("m.json"))
    >>> page["epochs"], page["figure"]
    ([], None)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advkit.evaluate.figures import pyplot
from advkit.report.figures import PURPOSE, Figure, percent, png_uri
from advkit.report.run_info import number, run_info

__all__ = ["Epoch", "training_figure", "training_page"]


@dataclass(frozen=True)
class Epoch:
    """One epoch of the history.

    Attributes:
        epoch: its number, from 1.
        loss: the mean training loss.
        clean: clean accuracy on the held-out samples (None when not monitored).
        robust: PGD-10 robust accuracy there (an upper bound; None when not monitored).
        certified: IBP-or-CROWN certified accuracy there (a lower bound), when logged.
        seconds: the epoch's training time.
    """

    epoch: int
    loss: float
    clean: float | None
    robust: float | None
    certified: float | None
    seconds: float


def training_page(results: dict[str, Any], path: Path) -> dict[str, Any]:
    """The template variables of the report of ``advkit train`` results.

    Args:
        results: the history JSON ``advkit train`` wrote (``--out`` with ``.json``).
        path: where it was read from.
    """
    epochs = [_epoch(record) for record in results.get("history", [])]
    extra = [("method", "training method", results.get("method")),
             ("arch", "architecture", results.get("arch")),
             ("n_train", "training samples", results.get("n_train")),
             ("n_eval", "held-out samples (monitor)", results.get("n_eval")),
             ("epochs", "epochs", len(epochs))]  # fmt: skip
    return {
        "kind": "train",
        "info": run_info(results, path, extra),
        "epochs": epochs,
        "last": epochs[-1] if epochs else None,
        "certified": any(e.certified is not None for e in epochs),
        "figure": training_figure(epochs) if epochs else None,
    }


def _epoch(record: dict[str, Any]) -> Epoch:
    """One history record as an :class:`Epoch`."""

    def optional(key: str) -> float | None:
        return number(record[key]) if key in record else None

    return Epoch(
        epoch=int(record["epoch"]),
        loss=number(record["loss"]),
        clean=optional("clean_accuracy"),
        robust=optional("robust_accuracy"),
        certified=optional("certified_accuracy"),
        seconds=number(record["seconds"]),
    )


def training_figure(epochs: list[Epoch]) -> Figure:
    """The training loss (left) and the held-out accuracies (right) against the epoch.

    Args:
        epochs: the history, not empty.
    """
    plt = pyplot(PURPOSE)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.3))
    x = [e.epoch for e in epochs]
    left.plot(x, [e.loss for e in epochs], "o-", color="#444")
    left.set_xlabel("epoch")
    left.set_ylabel("mean training loss (nats for cross-entropy)")
    alt = ["Training loss per epoch: " + "; ".join(f"{e.epoch}: {e.loss:.4g}" for e in epochs)]
    series = [("clean", "clean accuracy", "o-"),
              ("robust", "robust accuracy, PGD-10 (upper bound)", "s-"),
              ("certified", "certified accuracy (lower bound)", "^-")]  # fmt: skip
    for field, label, style in series:
        values = [(e.epoch, getattr(e, field)) for e in epochs if getattr(e, field) is not None]
        if values:
            right.plot([v[0] for v in values], [100 * v[1] for v in values], style, label=label)
            alt.append(f"{label}: " + "; ".join(f"{ep}: {percent(v)}" for ep, v in values))
    right.set_xlabel("epoch")
    right.set_ylabel("held-out accuracy (%)")
    right.set_ylim(0, 100)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)  # whole epochs
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8)
    return Figure(png_uri(plt, fig), ". ".join(alt) + ".")
