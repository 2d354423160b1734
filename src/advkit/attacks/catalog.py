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
from advkit.attacks.boundary import Boundary
from advkit.attacks.cw import CW
from advkit.attacks.deepfool import DeepFool
from advkit.attacks.ead import EAD
from advkit.attacks.gradient import BIM, FGM, PGD
from advkit.attacks.hopskipjump import HopSkipJump
from advkit.attacks.jsma import JSMA
from advkit.attacks.lbfgs import LBFGS
from advkit.attacks.minimal_eps import MinimalEps
from advkit.attacks.noise import RandomNoise
from advkit.attacks.one_pixel import OnePixel
from advkit.attacks.run import Attack
from advkit.attacks.square import Square
from advkit.attacks.zoo import ZOO
from advkit.objectives import DLR

__all__ = ["ATTACKS", "make_attack"]


def _apgd_dlr(**kw: Any) -> APGD:
    return APGD(loss=DLR(), **kw)


def _fgm_min(**kw: Any) -> MinimalEps:
    return MinimalEps(FGM(), **kw)


def _bim_min(**kw: Any) -> MinimalEps:
    return MinimalEps(BIM(), **kw)


def _pgd_min(**kw: Any) -> MinimalEps:
    return MinimalEps(PGD(), **kw)


ATTACKS: dict[str, tuple[Callable[..., Attack], str]] = {
    "fgm": (FGM, "fast gradient method: one ε step (FGSM under L∞), Goodfellow et al. 2015"),
    "bim": (BIM, "basic iterative method / I-FGM, 50 steps from x0, Kurakin et al. 2017"),
    "pgd": (PGD, "PGD, 50 steps, 3 random restarts on unbroken points, Madry et al. 2018"),
    "apgd": (APGD, "Auto-PGD with cross-entropy, 100 steps, Croce & Hein 2020"),
    "apgd-dlr": (_apgd_dlr, "Auto-PGD with the DLR loss, 100 steps, Croce & Hein 2020"),
    "apgd-t": (APGDT, "targeted APGD-DLR over the 9 most likely wrong classes, Croce & Hein"),
    "zoo": (ZOO, "minimal L2, score-only: ZOO-Adam, 128 coordinates/iter, search on c, 2017"),
    "square": (Square, "Square attack, score-only random search, 5000 queries, L∞/L2, 2020"),
    "boundary": (Boundary, "minimal L2, label-only: Boundary random walk, Brendel et al. 2018"),
    "hopskipjump": (HopSkipJump, "minimal L2/L∞, label-only: HopSkipJump, 64 iterations, 2020"),
    "one-pixel": (OnePixel, "k-pixel (L0) change by differential evolution, label/score, Su 2019"),
    "cw": (CW, "minimal L2: Carlini-Wagner L2, tanh + Adam, search on c (9 × 1000), 2017"),
    "fgm-min": (_fgm_min, "minimal ε: FGM with a per-sample bisection on ε (11 runs)"),
    "bim-min": (_bim_min, "minimal ε: I-FGM (BIM, 50 steps) with a per-sample bisection on ε"),
    "pgd-min": (_pgd_min, "minimal ε: PGD (50 steps × 3) with a per-sample bisection on ε"),
    "deepfool": (DeepFool, "minimal L2/L∞: DeepFool, top-10 classes, overshoot 0.02, 2016"),
    "lbfgs": (LBFGS, "minimal L2: box-constrained L-BFGS on L2² + c·CE (scipy), Szegedy 2014"),
    "ead": (EAD, "minimal elastic net: EAD, FISTA + shrinkage, β=1e-3, EN rule, Chen et al. 2018"),
    "jsma": (JSMA, "minimal L0: Jacobian saliency map over feature pairs, θ=+1, Papernot 2016"),
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
