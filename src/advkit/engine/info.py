"""Declared attack metadata and the table generated from it.

Every concrete attack declares an :class:`AttackInfo` on its class (``info``), and an
attack module may declare named configurations of its attacks as ``PRESETS`` (``apgd-dlr``
is APGD with the DLR loss). :mod:`advkit.attacks.catalog` finds both in every module of
``advkit.attacks`` and builds the attack table, from which ``advkit list``, the command
line's choices, the evaluation suites and the invariant test table are generated: a new
attack is one file.

Example:
    >>> from advkit.engine.info import AttackInfo
    >>> from advkit.access import Access
    >>> info = AttackInfo("my-attack", "what it does", Access.SCORES, norms=("linf",))
    >>> info.supports("l2"), info.access.name
    (False, 'SCORES')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from advkit.access import Access

__all__ = ["NORMS", "AttackInfo", "Entry", "Preset"]

NORMS = ("linf", "l2", "l1", "l0")
"""Names of the threat models' norms (``ThreatModel.name``)."""


@dataclass(frozen=True)
class AttackInfo:
    """What an attack is, declared once on its class.

    Attributes:
        name: the catalog name (lower case, dashes), e.g. ``"apgd-t"``.
        summary: one line for listings: the method, its defaults, the paper.
        access: the access level it needs (:class:`~advkit.access.Access`).
        norms: the threat norms it attacks (see :data:`NORMS`).
        minimal: True for minimal-distortion attacks (they accept ε = inf and search for
            the least distance); False for attacks within a fixed ε.
        listed: False for attacks that need constructor arguments (a substitute model, a
            detector, an inner attack): they are not in the catalog, their presets are.
    """

    name: str
    summary: str
    access: Access = Access.WHITE_BOX
    norms: tuple[str, ...] = NORMS
    minimal: bool = False
    listed: bool = True

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower() or " " in self.name:
            raise ValueError(f"attack names are lower case without spaces, got {self.name!r}")
        unknown = set(self.norms) - set(NORMS)
        if unknown or not self.norms:
            raise ValueError(f"norms must be a non-empty subset of {NORMS}, got {self.norms}")

    def supports(self, norm: str) -> bool:
        """Whether the attack handles a threat model with this norm name."""
        return norm in self.norms


@dataclass(frozen=True)
class Entry:
    """One row of the attack table: its metadata and how to build it."""

    info: AttackInfo
    factory: Callable[..., Any]

    @property
    def options(self) -> tuple[str, ...]:
        """The configuration fields a user may set (``--steps`` and the like)."""
        return tuple(f.name for f in dataclasses.fields(self.factory()))

    def make(self, **overrides: Any) -> Any:
        """Build the attack; ``None`` overrides are ignored, unknown ones are errors."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            raise ValueError(f"attack {self.info.name!r} takes no option {', '.join(unknown)}")
        return dataclasses.replace(self.factory(), **given)


@dataclass(frozen=True)
class Preset:
    """A named configuration of an attack class, declared in the attack's module as part
    of its ``PRESETS`` tuple (``apgd-dlr`` is APGD with the DLR loss).

    Attributes:
        name: the catalog name.
        summary: one line for listings.
        cls: the attack class.
        fixed: the options this preset sets.
    """

    name: str
    summary: str
    cls: type
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def build(self, **kw: Any) -> Any:
        return self.cls(**{**self.fixed, **kw})

    def entry(self) -> Entry:
        """The table row: the class's metadata with this name and summary."""
        info = self.build().describe()
        info = dataclasses.replace(info, name=self.name, summary=self.summary, listed=True)
        return Entry(info, self.build)
