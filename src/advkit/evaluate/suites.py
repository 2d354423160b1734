"""Attack suites: ordered cascades of attacks for robust-accuracy evaluation.

In a cascade each attack runs only on the points every earlier attack left robust, and a
sample counts as robust only if it survives all of them (the per-sample worst case).

- ``fast``: APGD with cross-entropy (100 steps).
- ``standard``: APGD-CE, then targeted APGD-DLR on the 9 most likely wrong classes, then
  the score-only Square attack (5000 queries) as the gradient-free check (AutoAttack's
  standard suite, Croce & Hein 2020). Square runs only on the points the gradient attacks
  left robust, so it costs little on undefended models and catches gradient masking on
  defended ones; it attacks L∞ and L2 threats and is left out for others.

Example:
    >>> from advkit.evaluate.suites import get_suite
    >>> [name for name, _ in get_suite("standard")]
    ['apgd-ce', 'apgd-t', 'square']
"""

from __future__ import annotations

from collections.abc import Callable

from advkit.attacks import APGD, APGDT, Attack, Square
from advkit.evaluate.traits import norms_of
from advkit.objectives import CrossEntropy

__all__ = ["SUITES", "Suite", "get_suite"]

Suite = list[tuple[str, Attack]]

SUITES: dict[str, Callable[[], Suite]] = {
    "fast": lambda: [("apgd-ce", APGD(steps=100, loss=CrossEntropy()))],
    "standard": lambda: [
        ("apgd-ce", APGD(steps=100, loss=CrossEntropy())),
        ("apgd-t", APGDT(steps=100, target_classes=9)),
        ("square", Square(queries=5000)),
    ],
}


def get_suite(suite: str | Suite, norm: str | None = None, classes: int | None = None) -> Suite:
    """A suite by name, or a user-given list of (name, attack) pairs.

    With ``norm`` (a threat model's name such as ``"l1"``), a named suite leaves out the
    attacks that do not handle that norm (they declare the norms they attack in ``norms``).
    With ``classes`` below 4, it leaves out APGD-T, whose targeted DLR loss needs 4 classes
    (APGD-CE and Square still run).
    """
    if isinstance(suite, str):
        if suite not in SUITES:
            raise ValueError(f"unknown suite {suite!r}; choose one of {sorted(SUITES)}")
        named = SUITES[suite]()
        if classes is not None and classes < 4:
            named = [(n, a) for n, a in named if not isinstance(a, APGDT)]
        if norm is None:
            return named
        return [(n, a) for n, a in named if _handles(a, norm)]
    if not suite:
        raise ValueError("an attack suite needs at least one attack")
    names = [name for name, _ in suite]
    if len(set(names)) != len(names):
        raise ValueError(f"attack names in a suite must be unique, got {names}")
    return list(suite)


def _handles(method: Attack, norm: str) -> bool:
    """Whether ``method`` attacks the threat model called ``norm`` (undeclared: every one)."""
    norms = norms_of(method)
    return norms is None or norm in norms
