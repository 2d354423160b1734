"""advkit: how robust is this classifier really, and how do I make it more robust?

Attacks give lower bounds on the adversarial loss, certifiers upper bounds; evaluation
puts both together per sample. See ``advkit.attack`` and ``advkit.evaluate``.
"""

from advkit.access import LabelOnly, ScoreOnly, WhiteBox
from advkit.attacks import (
    APGD,
    APGDT,
    BIM,
    CW,
    EAD,
    FGM,
    LBFGS,
    PGD,
    ZOO,
    Attack,
    DeepFool,
    MinimalEps,
    Square,
    attack,
)
from advkit.certify import CROWN, IBP, MIP, AlphaCROWN, CertResult, LinearExact, certify
from advkit.defenses import (
    TRADES,
    CertifiedTraining,
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
from advkit.distortion import DistortionReport, TargetCases, distortion_report, target_cases
from advkit.evaluate import Evaluation, evaluate
from advkit.objectives import DLR, CrossEntropy, CWMargin, LogProbMargin
from advkit.result import AttackResult
from advkit.threat import L1, L2, Linf, ThreatModel

__all__ = [
    "APGD",
    "APGDT",
    "BIM",
    "CROWN",
    "CW",
    "DLR",
    "EAD",
    "FGM",
    "IBP",
    "L1",
    "L2",
    "LBFGS",
    "MIP",
    "PGD",
    "TRADES",
    "ZOO",
    "AlphaCROWN",
    "Attack",
    "AttackResult",
    "CWMargin",
    "CertResult",
    "CertifiedTraining",
    "CrossEntropy",
    "DeepFool",
    "Distillation",
    "DistortionReport",
    "EnsembleAdversarial",
    "Evaluation",
    "FGSMTraining",
    "FastFGSM",
    "GradientNorm",
    "LabelOnly",
    "LinearExact",
    "Linf",
    "LogProbMargin",
    "MinimalEps",
    "PGDTraining",
    "ScoreOnly",
    "Square",
    "Standard",
    "TargetCases",
    "ThreatModel",
    "WhiteBox",
    "adversarial_loss",
    "attack",
    "certify",
    "distortion_report",
    "evaluate",
    "target_cases",
    "train",
]

__version__ = "0.1.0"
