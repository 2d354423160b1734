"""Attack suites: ordered cascades of catalog attacks for robust-accuracy evaluation.

In a cascade each attack runs only on the points every earlier attack left robust, and a
sample counts as robust only if it survives all of them (the per-sample worst case). A
named suite is a tuple of (catalog name, options) pairs, built with
:func:`~advkit.attacks.catalog.make_attack`: the names in its results (``broken_by``, the
store) are the names of ``advkit list`` and ``advkit attack --attack``.

``standard``, ``plus`` and ``rand`` are AutoAttack's versions (Croce & Hein 2020,
"Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
attacks"), with the attack lists, order and options of the reference implementation's
``set_version``. In cascade order, with what each attack costs a sample it does not break
(K classes; a broken sample leaves at once and costs less):

- ``standard``: APGD-CE (100 steps, 101 gradient calls) → APGD-T (the 9 most likely wrong
  classes, 9 × 101) → FAB-T (the same 9 classes, 9 × 100 gradient calls, and up to as
  many forward-only queries: a step's judging pass is the next step's linearization
  except after a step back towards x0) → Square (5000 queries, no gradient; p_init 0.8
  on AutoAttack's unscaled schedule): 1910 gradient calls and 5000 to 5900 more queries
  for a sample that survives. At L1, AutoAttack's L1 settings: l1-APGD-CE with 5
  restarts and l1-APGD-T on 5 classes, both with large reps (5 × 103 each) → FAB-T
  (9 × 100) → Square at L1 (5000 queries): 1930 gradient calls and 5000 to 5900 more
  queries.
- ``plus`` (L∞ and L2): APGD-CE and APGD-DLR with 5 restarts each (2 × 5 × 101) →
  untargeted FAB with 5 restarts (5 × 100 × (K − 1) gradient calls, 500 queries) →
  Square (5000 queries) → APGD-T (9 × 101) → FAB-T (9 × 100): 2819 + 500·(K − 1)
  gradient calls and 6400 queries.
- ``rand``, for randomized defenses: APGD-CE → APGD-DLR, each model evaluation averaged
  over 20 draws of the model's randomness (EOT, :class:`~advkit.attacks.adaptive.EOT`):
  2 × 20 × 101 = 4040 gradient calls.

And two cheaper cascades of advkit's own:

- ``quick``: APGD-CE, then APGD-T on the 3 most likely wrong classes (404 gradient calls):
  the white-box half of ``standard`` at a fifth of its gradient calls (the built-in
  demo's suite, a half-minute first run); on undefended models it usually breaks what
  ``standard`` breaks, but it has no gradient-free check, so evaluate a defense with
  ``standard``.
- ``fast``: APGD-CE alone (101 gradient calls).

The gradient attacks run first because they break most samples cheaply; FAB, a
minimal-distortion attack, counts a sample as broken when the point it finds lies within
ε (:mod:`advkit.attacks.fab`); Square, score-only, checks the survivors for gradient
masking. A built suite leaves out the attacks that do not handle the threat's norm (as
they declare in ``info.norms``); every attack of ``standard`` handles L1, Square in its
L1 version (Croce & Hein 2021, as AutoAttack). At L1 APGD is l1-APGD (Croce & Hein 2021,
:mod:`advkit.attacks.apgd_l1`), as in AutoAttack: its sparsity adapts to the best point
and, with ``large_reps``, it spends 30%, 30% and 40% of its steps at 3ε, 2ε and ε;
advkit's sparse step skips the coordinates the box blocks.

Example:
    >>> from advkit.evaluate.suites import get_suite
    >>> [name for name, _ in get_suite("standard")]
    ['apgd-ce', 'apgd-t', 'fab-t', 'square']
    >>> [name for name, _ in get_suite("standard", "l1")]
    ['apgd-ce', 'apgd-t', 'fab-t', 'square']
    >>> [name for name, _ in get_suite("quick")]
    ['apgd-ce', 'apgd-t']
    >>> get_suite("fast")
    [('apgd-ce', APGD(steps=100, restarts=1, loss=CrossEntropy(name='ce')))]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from advkit.attacks import APGD, APGDT, Attack
from advkit.attacks.adaptive import EOT
from advkit.attacks.catalog import make_attack
from advkit.engine import NORMS
from advkit.objectives import DLR

__all__ = ["RULES", "SUITES", "Suite", "SuiteRules", "SuiteSpec", "get_suite"]

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
        ("apgd-ce", {"steps": 100, "restarts": 1}),
        ("apgd-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
        ("fab-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
        ("square", {"queries": 5000, "p_init": 0.8, "rescale": False}),
    ),
    "plus": (
        ("apgd-ce", {"steps": 100, "restarts": 5}),
        ("apgd-dlr", {"steps": 100, "restarts": 5}),
        ("fab", {"steps": 100, "restarts": 5}),
        ("square", {"queries": 5000, "p_init": 0.8, "rescale": False}),
        ("apgd-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
        ("fab-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
    ),
    "rand": (
        ("apgd-ce", {"steps": 100, "restarts": 1}),
        ("apgd-dlr", {"steps": 100, "restarts": 1}),
    ),
}
"""The named suites, each a cascade of catalog attacks with their options (at L1, a suite
with settings of its own for L1 takes them from :data:`RULES`)."""


@dataclass(frozen=True)
class SuiteRules:
    """How a named suite is built beyond its attack list.

    Attributes:
        norms: the threat norms the suite is defined for (AutoAttack's versions: its
            ``plus`` is for L∞ and L2 only).
        eot: EOT draws every attack of the suite averages over, or None.
        by_norm: the suite's attack list for particular norms (AutoAttack's L1 settings),
            in place of its entry in :data:`SUITES`.

    Example:
        >>> RULES["rand"].eot
        20
    """

    norms: tuple[str, ...] = NORMS
    eot: int | None = None
    by_norm: Mapping[str, SuiteSpec] = field(default_factory=dict)


RULES: dict[str, SuiteRules] = {
    "standard": SuiteRules(
        norms=("linf", "l2", "l1"),
        by_norm={
            "l1": (
                ("apgd-ce", {"steps": 100, "restarts": 5, "large_reps": True}),
                ("apgd-t", {"steps": 100, "target_classes": 5, "restarts": 1, "large_reps": True}),
                ("fab-t", {"steps": 100, "target_classes": 9, "restarts": 1}),
                ("square", {"queries": 5000, "p_init": 0.8, "rescale": False}),
            )
        },
    ),
    "plus": SuiteRules(norms=("linf", "l2")),
    "rand": SuiteRules(norms=("linf", "l2", "l1"), eot=20),
}
"""The rules of the named suites that have any (the others: every norm, no EOT)."""


def _fits(method: Attack, classes: int | None) -> bool:
    """Whether ``method``'s loss can be computed with ``classes`` classes: APGD-T's
    targeted DLR needs 4, APGD-DLR's DLR 3 (None: unknown, assume it can)."""
    if classes is None:
        return True
    if isinstance(method, APGDT):
        return classes >= 4
    return classes >= 3 or not (isinstance(method, APGD) and isinstance(method.loss, DLR))


def _named(suite: str, norm: str | None, classes: int | None) -> Suite:
    """The named ``suite`` built for ``norm`` and ``classes`` (see :func:`get_suite`)."""
    if suite not in SUITES:
        raise ValueError(
            f"unknown suite {suite!r}; choose one of {sorted(SUITES)} (advkit list), or "
            "give a list of (name, attack) pairs"
        )
    rules = RULES.get(suite, SuiteRules())
    if norm is not None and norm not in rules.norms:
        fitting = sorted(name for name in SUITES if norm in RULES.get(name, SuiteRules()).norms)
        raise ValueError(
            f"suite {suite!r} is defined for {', '.join(rules.norms)} threats, not {norm}; "
            f"at {norm} choose one of {fitting}, or give a list of (name, attack) pairs"
        )
    spec = rules.by_norm.get(norm or "", SUITES[suite])
    built = [(name, make_attack(name, **options)) for name, options in spec]
    built = [(n, a) for n, a in built if _fits(a, classes)]
    if norm is not None:
        built = [(n, a) for n, a in built if a.describe().supports(norm)]
    if rules.eot is not None:
        built = [(n, EOT(a, rules.eot)) for n, a in built]
    return built


def get_suite(suite: str | Suite, norm: str | None = None, classes: int | None = None) -> Suite:
    """A suite by name, or a user-given list of (name, attack) pairs.

    With ``norm`` (a threat model's name such as ``"l1"``), a named suite takes its
    settings for that norm (:attr:`SuiteRules.by_norm`) and leaves out the attacks that
    do not handle it (as declared in their ``info.norms``); a suite not defined for the
    norm is an error. With ``classes`` below 4, it leaves out APGD-T, whose targeted DLR
    loss needs 4 classes, and below 3 APGD-DLR (the others still run).

    Raises:
        ValueError: an unknown suite name, a named suite not defined for ``norm``, or a
            list that is empty or repeats a name.
    """
    if isinstance(suite, str):
        return _named(suite, norm, classes)
    if not suite:
        raise ValueError("an attack suite needs at least one attack")
    names = [name for name, _ in suite]
    if len(set(names)) != len(names):
        raise ValueError(f"attack names in a suite must be unique, got {names}")
    return list(suite)
