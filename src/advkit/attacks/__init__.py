"""Attacks: approximate solutions of the inner maximization (lower bounds)."""

from advkit.attacks.apgd import APGD, APGDT
from advkit.attacks.boundary import Boundary
from advkit.attacks.cw import CW
from advkit.attacks.deepfool import DeepFool
from advkit.attacks.ead import EAD
from advkit.attacks.fab import FAB, FABT
from advkit.attacks.gradient import BIM, FGM, PGD
from advkit.attacks.hopskipjump import HopSkipJump
from advkit.attacks.jsma import JSMA
from advkit.attacks.lbfgs import LBFGS
from advkit.attacks.minimal_eps import MinimalEps
from advkit.attacks.one_pixel import OnePixel
from advkit.attacks.reparameterize import Reparameterize
from advkit.attacks.run import Attack, attack
from advkit.attacks.square import Square
from advkit.attacks.transfer import Ensemble, Substitute, Transfer, train_substitute
from advkit.attacks.zoo import ZOO

__all__ = [
    "APGD",
    "APGDT",
    "BIM",
    "CW",
    "EAD",
    "FAB",
    "FABT",
    "FGM",
    "JSMA",
    "LBFGS",
    "PGD",
    "ZOO",
    "Attack",
    "Boundary",
    "DeepFool",
    "Ensemble",
    "HopSkipJump",
    "MinimalEps",
    "OnePixel",
    "Reparameterize",
    "Square",
    "Substitute",
    "Transfer",
    "attack",
    "train_substitute",
]
