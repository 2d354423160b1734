"""The attack table, built from the metadata every attack declares.

Every module of :mod:`advkit.attacks` is imported; every attack class that declares
``info`` (an :class:`~advkit.engine.AttackInfo`) with ``listed=True`` is a row, and so is
every :class:`~advkit.engine.Preset` in a module's ``PRESETS``. The command line's
choices, ``advkit list``, the evaluation suites and the invariant test table read this
table: adding an attack is one file.

Example:
    >>> from advkit.attacks.catalog import make_attack
    >>> make_attack("pgd", steps=100)
    PGD(steps=100, restarts=3, rel_step=None, loss=CrossEntropy(name='ce'))
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import advkit.attacks
from advkit.engine import Attack, Entry, Preset

__all__ = ["ATTACKS", "make_attack"]


def _rows(module: ModuleType) -> list[Entry]:
    rows = []
    for value in vars(module).values():
        own = isinstance(value, type) and value.__module__ == module.__name__
        if own and issubclass(value, Attack) and "info" in value.__dict__:
            info = value.__dict__["info"]
            if info.listed:
                rows.append(Entry(info, value))
    presets: tuple[Preset, ...] = getattr(module, "PRESETS", ())
    return rows + [p.entry() for p in presets]


def _build() -> dict[str, Entry]:
    table: dict[str, Entry] = {}
    for mod in pkgutil.iter_modules(advkit.attacks.__path__):
        module = importlib.import_module(f"advkit.attacks.{mod.name}")
        for row in _rows(module):
            if row.info.name in table:
                raise RuntimeError(f"two attacks are named {row.info.name!r}")
            table[row.info.name] = row
    return dict(sorted(table.items()))


ATTACKS: dict[str, Entry] = _build()
"""Every listed attack and preset, by name."""


def make_attack(name: str, **overrides: Any) -> Attack:
    """Build a named attack; ``None`` overrides are ignored, unknown ones are errors."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)}")
    attack: Attack = ATTACKS[name].make(**overrides)
    return attack
