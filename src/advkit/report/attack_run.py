"""What the report of ``advkit attack --report [--cases]`` shows: how far the examples lie.

Problem solved: a minimal attack's JSON holds per-sample distances that no one reads as a
list. This module turns it into the page's parts: the run, the success rate and the
L0/L1/L2/L∞ mean and median per case (the plain run, then the best, average and worst
case over target labels), and one histogram per case of the distances, in the threat's
norm, of the examples the attack found. These are upper bounds on each sample's minimal
adversarial distance, not the minimal distances themselves.

Example:
    >>> from pathlib import Path
    >>> from advkit.report.attack_run import attack_page
    >>> stats = {"n": 2, "success_rate": 0.5, "mean": {"l2": 0.3}, "median": {"l2": 0.3},
    ...          "success": [True, False], "distances": [0.3]}
    >>> page = attack_page({"threat": "l2 eps=inf", "distortion": stats}, Path("a.json"))
    >>> [(case["key"], case["n"]) for case in page["cases"]]
    [('untargeted', 2)]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advkit.report.figures import Figure, histogram_figure
from advkit.report.run_info import norm_label, number, run_info

__all__ = ["CASES", "NORMS", "attack_page", "case_of"]

NORMS = ("l0", "l1", "l2", "linf")
"""The norms of the distortion table, as the JSON names them."""

CASES = (
    ("untargeted", "plain run (untargeted)"),
    ("best", "best case (easiest target label)"),
    ("average", "average case (a random target label)"),
    ("worst", "worst case (hardest target label)"),
)
"""Each case's key (``"untargeted"`` is the JSON's ``distortion``) and its label."""


def attack_page(results: dict[str, Any], path: Path) -> dict[str, Any]:
    """The template variables of the report of ``advkit attack --report`` results.

    Args:
        results: the JSON ``advkit attack --report --json`` printed.
        path: where it was read from.
    """
    norm = norm_label(results)
    found = {"untargeted": results["distortion"], **(results.get("target_cases") or {})}
    extra = [("gradient_calls", "gradient calls", results.get("gradient_calls"))]
    return {
        "kind": "attack",
        "info": run_info(results, path, extra),
        "norm": norm,
        "norms": NORMS,
        "cases": [
            case_of(key, label, found[key], norm, str(results.get("attack", "the attack")))
            for key, label in CASES
            if key in found
        ],
    }


def case_of(key: str, label: str, stats: dict[str, Any], norm: str, attack: str) -> dict[str, Any]:
    """One case's row and histogram.

    Args:
        key: the case (``"best"``).
        label: what it is, for the reader.
        stats: its part of the JSON: ``n``, ``success_rate``, ``mean``, ``median`` and
            (when recorded) ``distances`` of the successful samples.
        norm: the threat's norm, for the histogram's axis.
        attack: the attack, for the histogram's text.
    """
    distances = [number(d) for d in stats.get("distances", [])]
    what = (
        f"the {norm} distances of the examples {attack} found, {label} (upper bounds on "
        "each sample's minimal adversarial distance)"
    )
    figure: Figure | None = histogram_figure(distances, norm, what) if distances else None
    return {
        "key": key,
        "label": label,
        "n": int(stats.get("n", 0)),
        "success_rate": number(stats.get("success_rate", "nan")),
        "mean": {k: number(stats.get("mean", {}).get(k, "nan")) for k in NORMS},
        "median": {k: number(stats.get("median", {}).get(k, "nan")) for k in NORMS},
        "recorded": "distances" in stats,
        "figure": figure,
    }
