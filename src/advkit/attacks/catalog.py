"""Attacks by name, for the command line and listings.

Example:
    >>> from advkit.attacks.catalog import make_attack
    >>> make_attack("pgd", steps=100)
    PGD(steps=100, restarts=3, rel_step=None, loss=CrossEntropy(name='ce'))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from advkit.attacks.apgd import APGD, APGDT
from advkit.attacks.gradient import BIM, FGM, PGD
from advkit.attacks.noise import RandomNoise
from advkit.attacks.run import Attack
from advkit.objectives import DLR

__all__ = ["ATTACKS", "make_attack"]


def _apgd_dlr(**kw: Any) -> APGD:
    return APGD(loss=DLR(), **kw)


ATTACKS: dict[str, tuple[Callable[..., Attack], str]] = {
    "fgm": (FGM, "fast gradient method: one ε step (FGSM under L∞), Goodfellow et al. 2015"),
    "bim": (BIM, "basic iterative method / I-FGM, 50 steps from x0, Kurakin et al. 2017"),
    "pgd": (PGD, "PGD, 50 steps, 3 random restarts on unbroken points, Madry et al. 2018"),
    "apgd": (APGD, "Auto-PGD with cross-entropy, 100 steps, Croce & Hein 2020"),
    "apgd-dlr": (_apgd_dlr, "Auto-PGD with the DLR loss, 100 steps, Croce & Hein 2020"),
    "apgd-t": (APGDT, "targeted APGD-DLR over the 9 most likely wrong classes, Croce & Hein"),
    "noise": (RandomNoise, "uniform random points of the ball, 100 per sample (label access)"),
}


def make_attack(name: str, **overrides: Any) -> Attack:
    """Build a named attack; ``None`` overrides are ignored, unknown ones are errors."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)}")
    factory = ATTACKS[name][0]
    given = {k: v for k, v in overrides.items() if v is not None}
    default = factory()
    fields = {f.name for f in dataclasses.fields(default)}  # type: ignore[arg-type]
    unknown = sorted(set(given) - fields)
    if unknown:
        raise ValueError(f"attack {name!r} takes no option {', '.join(unknown)}")
    return dataclasses.replace(default, **given)  # type: ignore[type-var]
