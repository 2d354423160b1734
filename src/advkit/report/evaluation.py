"""What the report of ``advkit evaluate`` results shows, read off their JSON.

Problem solved: the template should only lay out numbers, never compute them. This module
turns evaluate results (a suite's, or ``--minimal``'s) into the page's parts: the run's
description, clean and robust accuracy, the accuracy-vs-ε curve (with the certified
curve when ``--certify`` ran), who broke what at what cost, the distortion histogram,
the gradient-masking flags with their remedies, the gallery of broken samples, and
(``--estimates``) each sample's attack distance, CLEVER estimate and certified radius.
Missing parts (an empty run, no curve, no examples) become empty parts the page
describes in words.

Example:
    >>> from pathlib import Path
    >>> from advkit.report.evaluation import evaluate_page
    >>> page = evaluate_page({"schema_version": 1, "n": 0, "samples": {}}, Path("r.json"))
    >>> page["curve"], page["attacks"]
    ([], [])
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advkit.report.estimates import estimates_part
from advkit.report.figures import curve_figure, histogram_figure
from advkit.report.gallery import broken_records, gallery
from advkit.report.run_info import norm_label, number, run_info

__all__ = ["AttackRow", "CurvePoint", "evaluate_page"]


@dataclass(frozen=True)
class CurvePoint:
    """The accuracy at one ε.

    Attributes:
        eps: the radius.
        robust: robust accuracy under attack (an upper bound).
        certified: certified accuracy (a lower bound), or None when nothing was certified.
    """

    eps: float
    robust: float
    certified: float | None = None


@dataclass(frozen=True)
class AttackRow:
    """What one attack (or ``"clean"``, or a masking check) broke first at the main ε.

    Attributes:
        name: the attack's name.
        broken: the samples it broke first.
        gradient_calls: input gradients the cascade spent on those samples.
        queries: model evaluations the cascade spent on those samples.
    """

    name: str
    broken: int
    gradient_calls: int
    queries: int


def evaluate_page(results: dict[str, Any], path: Path) -> dict[str, Any]:
    """The template variables of the report of evaluate results.

    Args:
        results: the JSON of ``advkit evaluate`` (:func:`advkit.schema.read_results`).
        path: where it was read from (the examples file lies beside it).
    """
    minimal = "minimal_distance" in results or "distortion" in results
    norm = norm_label(results)
    curve = _curve(results)
    clean = number(results.get("clean_accuracy", "nan"))
    records = results.get("samples", {}).get(str(results.get("eps")), [])
    return {
        "kind": "minimal" if minimal else "evaluate",
        "info": run_info(results, path),
        "clean": clean,
        "robust": None if minimal else number(results.get("robust_accuracy", "nan")),
        "eps": None if minimal else results.get("eps"),
        "n": int(results.get("n", 0)),
        "curve": curve,
        "certified_by": (results.get("sandwich") or {}).get("method"),
        "curve_figure": _curve_figure(curve, clean, norm),
        "attacks": _attacks(records),
        "gradient_calls": sum(int(r["gradient_calls"]) for r in records),
        "queries": sum(int(r["queries"]) for r in records),
        "histogram": _histogram(results, norm),
        "masking": list(results.get("masking", [])),
        "adaptive": results.get("adaptive", "none"),
        "before_adaptive": results.get("before_adaptive"),
        "gallery": None if minimal else gallery(results, path),
        "estimates": estimates_part(results),
    }


def _curve(results: dict[str, Any]) -> list[CurvePoint]:
    """The accuracy-vs-ε points, with the certified accuracy where the sandwich has it."""
    rows = (results.get("sandwich") or {}).get("rows", [])
    certified = {number(r["eps"]): number(r["certified_accuracy"]) for r in rows}
    points = []
    for point in results.get("curve", []):
        eps = number(point["eps"])
        points.append(CurvePoint(eps, number(point["robust_accuracy"]), certified.get(eps)))
    return points


def _curve_figure(curve: list[CurvePoint], clean: float, norm: str) -> Any:
    """The curve's figure, or None for a run without a finite ε."""
    finite = [p for p in curve if p.eps != float("inf")]
    if not finite:
        return None
    certified = [(p.eps, p.certified) for p in finite if p.certified is not None]
    return curve_figure([(p.eps, p.robust) for p in finite], certified or None, clean, norm)


def _attacks(records: list[dict[str, Any]]) -> list[AttackRow]:
    """Per breaker (attack, masking check, ``"clean"``), in order of first appearance by
    count: the samples it broke first and what the cascade spent on them."""
    counts = Counter(r["broken_by"] for r in records if r["broken_by"] is not None)
    rows = []
    for name, broken in counts.most_common():
        mine = [r for r in records if r["broken_by"] == name]
        gradients = sum(int(r["gradient_calls"]) for r in mine)
        rows.append(AttackRow(name, broken, gradients, sum(int(r["queries"]) for r in mine)))
    return rows


def _histogram(results: dict[str, Any], norm: str) -> Any:
    """The distance histogram of the broken samples (minimal distances for
    ``--minimal``), or None when no sample was broken by an attack."""
    if "minimal_distance" in results:
        pairs = zip(results["minimal_distance"], results.get("success", []), strict=False)
        distances = [number(d) for d, ok in pairs if ok and number(d) > 0]
        what = f"the minimal distances found by {results.get('attack', 'the attack')}"
    else:
        broken = broken_records(results)
        distances = [number(r["distance"]) for r in broken if r["distance"] is not None]
        what = f"the distances of the adversarial examples at ε={results.get('eps')}"
    if not distances:
        return None
    return histogram_figure(distances, norm, what)
