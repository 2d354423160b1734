"""advkit: how robust is this classifier really, and how do I make it more robust?

Attacks give lower bounds on the adversarial loss, certifiers upper bounds; evaluation
puts both together per sample. See ``advkit.attack`` and ``advkit.evaluate``.
"""

from advkit.access import LabelOnly, ScoreOnly, WhiteBox
from advkit.attacks import APGD, APGDT, BIM, FGM, PGD, Attack, attack
from advkit.certify import CROWN, IBP, MIP, AlphaCROWN, CertResult, LinearExact, certify
from advkit.evaluate import Evaluation, evaluate
from advkit.objectives import DLR, CrossEntropy, CWMargin, LogProbMargin
from advkit.result import AttackResult
from advkit.threat import L1, L2, Linf, ThreatModel

__all__ = [
    "APGD",
    "APGDT",
    "BIM",
    "CROWN",
    "DLR",
    "FGM",
    "IBP",
    "L1",
    "L2",
    "MIP",
    "PGD",
    "AlphaCROWN",
    "Attack",
    "AttackResult",
    "CWMargin",
    "CertResult",
    "CrossEntropy",
    "Evaluation",
    "LabelOnly",
    "LinearExact",
    "Linf",
    "LogProbMargin",
    "ScoreOnly",
    "ThreatModel",
    "WhiteBox",
    "attack",
    "certify",
    "evaluate",
]

__version__ = "0.1.0"
