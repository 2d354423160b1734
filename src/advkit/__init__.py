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
    JSMA,
    LBFGS,
    PGD,
    ZOO,
    Attack,
    Boundary,
    DeepFool,
    Ensemble,
    HopSkipJump,
    MinimalEps,
    OnePixel,
    Square,
    Substitute,
    Transfer,
    attack,
    train_substitute,
)
from advkit.attacks.detector_evasion import EvadeDetector
from advkit.certify import CROWN, IBP, MIP, AlphaCROWN, CertResult, LinearExact, certify
from advkit.defenses import (
    TRADES,
    Distillation,
    EnsembleAdversarial,
    FastFGSM,
    FeatureSqueezing,
    FGSMTraining,
    GradientNorm,
    GradientNormDetector,
    MinimalDistortionTraining,
    PGDTraining,
    Standard,
    adversarial_loss,
    train,
)
from advkit.distortion import DistortionReport, TargetCases, distortion_report, target_cases
from advkit.evaluate import Evaluation, evaluate
from advkit.evaluate.detection import DetectionReport, evaluate_detector
from advkit.objectives import DLR, CrossEntropy, CWMargin, LogProbMargin
from advkit.result import AttackResult
from advkit.threat import L0, L1, L2, Linf, ThreatModel

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
    "JSMA",
    "L0",
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
    "Boundary",
    "CWMargin",
    "CertResult",
    "CrossEntropy",
    "DeepFool",
    "DetectionReport",
    "Distillation",
    "DistortionReport",
    "Ensemble",
    "EnsembleAdversarial",
    "EvadeDetector",
    "Evaluation",
    "FGSMTraining",
    "FastFGSM",
    "FeatureSqueezing",
    "GradientNorm",
    "GradientNormDetector",
    "HopSkipJump",
    "LabelOnly",
    "LinearExact",
    "Linf",
    "LogProbMargin",
    "MinimalDistortionTraining",
    "MinimalEps",
    "OnePixel",
    "PGDTraining",
    "ScoreOnly",
    "Square",
    "Standard",
    "Substitute",
    "TargetCases",
    "ThreatModel",
    "Transfer",
    "WhiteBox",
    "adversarial_loss",
    "attack",
    "certify",
    "distortion_report",
    "evaluate",
    "evaluate_detector",
    "target_cases",
    "train",
    "train_substitute",
]

__version__ = "0.1.0"
