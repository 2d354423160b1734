"""Attack suites: ordered cascades of attacks for robust-accuracy evaluation.

In a cascade each attack runs only on the points every earlier attack left robust, and a
sample counts as robust only if it survives all of them (the per-sample worst case).

- ``fast``: APGD with cross-entropy (100 steps).
- ``standard``: APGD-CE, then targeted APGD-DLR on the 9 most likely wrong classes
  (the gradient-based part of AutoAttack's standard suite, Croce & Hein 2020).

Example:
    >>> from advkit.evaluate.suites import get_suite
    >>> [name for name, _ in get_suite("standard")]
    ['apgd-ce', 'apgd-t']
"""

from __future__ import annotations

from collections.abc import Callable

from advkit.attacks import APGD, APGDT, Attack
from advkit.objectives import CrossEntropy

__all__ = ["SUITES", "Suite", "get_suite"]

Suite = list[tuple[str, Attack]]

SUITES: dict[str, Callable[[], Suite]] = {
    "fast": lambda: [("apgd-ce", APGD(steps=100, loss=CrossEntropy()))],
    "standard": lambda: [
        ("apgd-ce", APGD(steps=100, loss=CrossEntropy())),
        ("apgd-t", APGDT(steps=100, target_classes=9)),
    ],
}


def get_suite(suite: str | Suite) -> Suite:
    """A suite by name, or a user-given list of (name, attack) pairs."""
    if isinstance(suite, str):
        if suite not in SUITES:
            raise ValueError(f"unknown suite {suite!r}; choose one of {sorted(SUITES)}")
        return SUITES[suite]()
    if not suite:
        raise ValueError("an attack suite needs at least one attack")
    names = [name for name, _ in suite]
    if len(set(names)) != len(names):
        raise ValueError(f"attack names in a suite must be unique, got {names}")
    return list(suite)
