"""Attacks: approximate solutions of the inner maximization (lower bounds)."""

from advkit.attacks.apgd import APGD, APGDT
from advkit.attacks.gradient import BIM, FGM, PGD
from advkit.attacks.run import Attack, attack
from advkit.attacks.square import Square

__all__ = ["APGD", "APGDT", "BIM", "FGM", "PGD", "Attack", "Square", "attack"]
