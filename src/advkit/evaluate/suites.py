"""Attack suites: ordered cascades of catalog attacks for robust-accuracy evaluation.

In a cascade each attack runs only on the points every earlier attack left robust, and a
sample counts as robust only if it survives all of them (the per-sample worst case). A
named suite is a tuple of (catalog name, options) pairs, built with
:func:`~advkit.attacks.catalog.make_attack`: the names in its results (``broken_by``, the
store) are the names of ``advkit list`` and ``advkit attack --attack``.

- ``fast``: APGD with cross-entropy (100 steps).
- ``quick``: APGD-CE, then targeted APGD-DLR on the 3 most likely wrong classes: the
  white-box half of ``standard`` at about a third of its cost (the built-in demo's suite,
  a one-minute first run); on undefended models it usually breaks what ``standard``
  breaks, but it has no gradient-free check, so evaluate a defense with ``standard``.
- ``standard``: APGD-CE, then targeted APGD-DLR on the 9 most likely wrong classes, then
  the score-only Square attack (5000 queries) as the gradient-free check (AutoAttack's
  standard suite, Croce & Hein 2020). Square runs only on the points the gradient attacks
  left robust, so it costs little on undefended models and catches gradient masking on
  defended ones; it attacks L∞ and L2 threats and is left out for others.

Example:
    >>> from advkit.evaluate.suites import get_suite
    >>> [name for name, _ in get_suite("standard")]
    ['apgd-ce', 'apgd-t', 'square']
    >>> [name for name, _ in get_suite("quick")]
    ['apgd-ce', 'apgd-t']
    >>> get_suite("fast")
    [('apgd-ce', APGD(steps=100, restarts=1, loss=CrossEntropy(name='ce')))]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from advkit.attacks import APGDT, Attack
from advkit.attacks.catalog import make_attack

__all__ = ["SUITES", "Suite", "SuiteSpec", "get_suite"]

Suite = list[tuple[str, Attack]]
"""A built suite: (name, attack) pairs in cascade order."""

SuiteSpec = tuple[tuple[str, Mapping[str, Any]], ...]
"""A named suite's definition: (catalog name, options) pairs in cascade order."""

SUITES: dict[str, SuiteSpec] = {
    "fast": (("apgd-ce", {"steps": 100}),),
    "quick": (
        ("apgd-ce", {"steps": 100}),
        ("apgd-t", {"steps": 100, "target_classes": 3}),
    ),
    "standard": (
        ("apgd-ce", {"steps": 100}),
        ("apgd-t", {"steps": 100, "target_classes": 9}),
        ("square", {"queries": 5000}),
    ),
}
"""The named suites, each a cascade of catalog attacks with their options."""


def get_suite(suite: str | Suite, norm: str | None = None, classes: int | None = None) -> Suite:
    """A suite by name, or a user-given list of (name, attack) pairs.

    With ``norm`` (a threat model's name such as ``"l1"``), a named suite leaves out the
    attacks that do not handle that norm (as declared in their ``info.norms``).
    With ``classes`` below 4, it leaves out APGD-T, whose targeted DLR loss needs 4 classes
    (APGD-CE and Square still run).
    """
    if isinstance(suite, str):
        if suite not in SUITES:
            raise ValueError(f"unknown suite {suite!r}; choose one of {sorted(SUITES)}")
        named = [(name, make_attack(name, **options)) for name, options in SUITES[suite]]
        if classes is not None and classes < 4:
            named = [(n, a) for n, a in named if not isinstance(a, APGDT)]
        if norm is None:
            return named
        return [(n, a) for n, a in named if a.describe().supports(norm)]
    if not suite:
        raise ValueError("an attack suite needs at least one attack")
    names = [name for name, _ in suite]
    if len(set(names)) != len(names):
        raise ValueError(f"attack names in a suite must be unique, got {names}")
    return list(suite)
