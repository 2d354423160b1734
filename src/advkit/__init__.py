"""advkit: how robust is this classifier really, and how do I make it more robust?

Attacks give lower bounds on the adversarial loss, certifiers upper bounds; evaluation
puts both together per sample. See ``advkit.attack`` and ``advkit.evaluate``.
"""

from advkit.access import LabelOnly, ScoreOnly, WhiteBox
from advkit.attacks import APGD, APGDT, BIM, FGM, PGD, Attack, attack
from advkit.defenses import (
    TRADES,
    Distillation,
    EnsembleAdversarial,
    FastFGSM,
    FGSMTraining,
    GradientNorm,
    PGDTraining,
    Standard,
    adversarial_loss,
    train,
)
from advkit.evaluate import Evaluation, evaluate
from advkit.objectives import DLR, CrossEntropy, CWMargin, LogProbMargin
from advkit.result import AttackResult
from advkit.threat import L1, L2, Linf, ThreatModel

__all__ = [
    "APGD",
    "APGDT",
    "BIM",
    "DLR",
    "FGM",
    "L1",
    "L2",
    "PGD",
    "TRADES",
    "Attack",
    "AttackResult",
    "CWMargin",
    "CrossEntropy",
    "Distillation",
    "EnsembleAdversarial",
    "Evaluation",
    "FGSMTraining",
    "FastFGSM",
    "GradientNorm",
    "LabelOnly",
    "Linf",
    "LogProbMargin",
    "PGDTraining",
    "ScoreOnly",
    "Standard",
    "ThreatModel",
    "WhiteBox",
    "adversarial_loss",
    "attack",
    "evaluate",
    "train",
]

__version__ = "0.1.0"
