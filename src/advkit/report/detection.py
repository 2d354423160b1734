"""What the report of ``advkit detect`` results shows: the detector's ROC per attack.

Problem solved: a detector is judged by how many adversarial examples it flags at a
given false-positive rate on clean inputs, and by nothing else than the attacks it was
evaluated with. This module turns the JSON of ``advkit detect`` into the page's parts:
the run, the calibrated threshold and the false-positive rate measured on held-out
clean data, one row per attack (fooled, detected, evading, area under the ROC, whether
the attack knew the detector) and the ROC curves drawn from the recorded scores, with
the calibrated operating point.

Example:
    >>> from pathlib import Path
    >>> from advkit.report.detection import detect_page
    >>> page = detect_page({"detector": "D", "fpr": 0.0, "clean_scores": [0.1, 0.2],
    ...     "attacks": [{"attack": "a", "success": 1.0, "detected": 0.5, "evasion": 0.5,
    ...                  "scores": [0.3, 0.15], "adaptive": False}]}, Path("d.json"))
    >>> page["attacks"][0].auc, page["adaptive"]
    (0.75, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advkit.evaluate.figures import pyplot
from advkit.report.figures import PURPOSE, Figure, percent, png_uri
from advkit.report.roc import roc_auc, roc_points
from advkit.report.run_info import number, run_info

__all__ = ["AttackRoc", "detect_page", "roc_figure"]


@dataclass(frozen=True)
class AttackRoc:
    """One attack against the detector.

    Attributes:
        name: the attack's name.
        success: the fraction of correctly classified samples on which it fooled the model.
        detected: the fraction of its fooling examples the detector flagged.
        evasion: fooled the model and not flagged (its success against model + detector).
        adaptive: whether the attack knew the detector (None when not recorded).
        points: its ROC curve, (false-positive rate, detection rate) pairs; empty when
            no scores were recorded, none of its examples fooled the model, or a score
            is not finite.
        auc: the area under that curve, or None without a curve.
    """

    name: str
    success: float
    detected: float
    evasion: float
    adaptive: bool | None
    points: list[tuple[float, float]]
    auc: float | None


def detect_page(results: dict[str, Any], path: Path) -> dict[str, Any]:
    """The template variables of the report of ``advkit detect`` results.

    Args:
        results: the JSON ``advkit detect --out`` wrote.
        path: where it was read from.
    """
    clean = [number(s) for s in results.get("clean_scores", [])]
    attacks = [_attack(row, clean) for row in results.get("attacks", [])]
    calibrated_on = results.get("calibrated_on")
    extra = [("detector", "detector", results.get("detector")),
             ("calibrated_on", "clean samples calibrated on", calibrated_on)]  # fmt: skip
    drawn = [a for a in attacks if a.points]
    fpr = number(results.get("fpr", "nan"))
    return {
        "kind": "detect",
        "info": run_info(results, path, extra),
        "threshold": number(results.get("threshold", "nan")),
        "target_fpr": number(results.get("target_fpr", "nan")),
        "fpr": fpr,
        "correct": results.get("correct"),
        "n": len(clean),
        "attacks": attacks,
        "scored": bool(clean),
        "adaptive": any(a.adaptive for a in attacks),
        "figure": roc_figure(drawn, fpr) if drawn else None,
    }


def _attack(row: dict[str, Any], clean: list[float]) -> AttackRoc:
    """One row of the results with its ROC curve (when its scores were recorded)."""
    scores = [number(s) for s in row.get("scores", [])]
    drawable = clean and scores and all(math.isfinite(s) for s in [*clean, *scores])
    points = roc_points(clean, scores) if drawable else []
    return AttackRoc(
        name=str(row["attack"]),
        success=number(row["success"]),
        detected=number(row["detected"]),
        evasion=number(row["evasion"]),
        adaptive=row.get("adaptive"),
        points=points,
        auc=roc_auc(points) if points else None,
    )


def roc_figure(attacks: list[AttackRoc], fpr: float) -> Figure:
    """The ROC curve of each attack, the chance diagonal and the calibrated false-positive
    rate as a vertical line.

    Args:
        attacks: the attacks with a curve (not empty).
        fpr: the false-positive rate of the calibrated threshold on the evaluated data.
    """
    plt = pyplot(PURPOSE)
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    ax.plot([0, 100], [0, 100], ":", color="grey", label="chance")
    ax.axvline(100 * fpr, color="#c0504d", linestyle="--", label="calibrated threshold")
    for a in attacks:
        kind = "adaptive" if a.adaptive else "not adaptive"
        ax.plot([100 * p[0] for p in a.points], [100 * p[1] for p in a.points],
                label=f"{a.name} ({kind}), AUC {a.auc:.3f}")  # fmt: skip
    ax.set_xlabel("false-positive rate on clean inputs (%)")
    ax.set_ylabel("adversarial examples detected (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    alt = "; ".join(
        f"{a.name}: area under the curve {a.auc:.3f}, {percent(a.detected)} detected at the "
        f"threshold"
        for a in attacks
    )
    threshold = f"The calibrated threshold flags {percent(fpr)} of the clean inputs."
    return Figure(png_uri(plt, fig), f"ROC curves of the detector. {alt}. {threshold}")
