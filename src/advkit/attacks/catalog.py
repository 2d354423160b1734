"""The attack table, built from the metadata every attack declares.

Every module of :mod:`advkit.attacks` is imported; every attack class that declares
``info`` (an :class:`~advkit.engine.AttackInfo`) with ``listed=True`` is a row, and so is
every :class:`~advkit.engine.Preset` in a module's ``PRESETS``. The command line's
choices, ``advkit list``, the evaluation suites and the invariant test table read this
table: adding an attack is one file.

Example:
    >>> from advkit.access import Access
    >>> from advkit.attacks.catalog import make_attack, names
    >>> make_attack("pgd", steps=100)
    PGD(steps=100, restarts=3, rel_step=None, loss=CrossEntropy(name='ce'))
    >>> names(access=Access.SCORES)
    ['square', 'zoo']
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import advkit.attacks
from advkit.access import Access
from advkit.engine import Attack, Entry, Preset

__all__ = ["ATTACKS", "CLASSES", "make_attack", "names"]


def _modules() -> list[ModuleType]:
    found = pkgutil.iter_modules(advkit.attacks.__path__)
    return [importlib.import_module(f"advkit.attacks.{m.name}") for m in found]


def _declared(module: ModuleType) -> list[type[Attack]]:
    """The module's own attack classes that declare ``info``."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and issubclass(value, Attack)
        and "info" in value.__dict__
    ]


def _unique(rows: list[tuple[str, Any]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name, value in rows:
        if name in table:
            raise RuntimeError(f"two attacks are named {name!r}")
        table[name] = value
    return dict(sorted(table.items()))


CLASSES: dict[str, type[Attack]] = _unique(
    [(cls.info.name, cls) for module in _modules() for cls in _declared(module)]
)
"""Every attack class that declares ``info``, listed or not, by its declared name
(wrappers such as BPDA and EOT declare none: they take their attack's)."""


def _entries() -> list[Entry]:
    rows = [Entry(cls.info, cls) for cls in CLASSES.values() if cls.info.listed]
    presets: list[Preset] = [p for m in _modules() for p in getattr(m, "PRESETS", ())]
    return rows + [p.entry() for p in presets]


ATTACKS: dict[str, Entry] = _unique([(row.info.name, row) for row in _entries()])
"""Every listed attack and preset, by name."""


def names(
    *, access: Access | None = None, minimal: bool | None = None, norm: str | None = None
) -> list[str]:
    """Catalog names whose metadata matches every filter given (sorted).

    Args:
        access: the access level the attack needs, e.g. ``Access.WHITE_BOX``.
        minimal: True for minimal-distortion attacks, False for fixed-ε ones.
        norm: a threat norm the attack handles (``"linf"``, ``"l2"``, ``"l1"``, ``"l0"``).
    """
    return [
        name
        for name, entry in ATTACKS.items()
        if (access is None or entry.info.access == access)
        and (minimal is None or entry.info.minimal == minimal)
        and (norm is None or entry.info.supports(norm))
    ]


def make_attack(name: str, **overrides: Any) -> Attack:
    """Build a named attack; ``None`` overrides are ignored, unknown ones are errors."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)} (advkit list)")
    attack: Attack = ATTACKS[name].make(**overrides)
    return attack
