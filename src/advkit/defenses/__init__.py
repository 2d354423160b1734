"""Defenses: robust training (the outer minimization), input transformations, detectors.

Every defense here is meant to be evaluated with attacks that know about it (see
``advkit.attacks.adaptive`` and ``advkit.evaluate.sanity``).
"""

from advkit.defenses.certified import CertifiedTraining
from advkit.defenses.detectors import Detector, FeatureSqueezing, GradientNormDetector
from advkit.defenses.regularizers import Distillation, EnsembleAdversarial, GradientNorm
from advkit.defenses.trainer import train
from advkit.defenses.training import (
    TRADES,
    FastFGSM,
    FGSMTraining,
    MinimalDistortionTraining,
    PGDTraining,
    Standard,
    TrainingMethod,
    adversarial_loss,
)

__all__ = [
    "TRADES",
    "CertifiedTraining",
    "Detector",
    "Distillation",
    "EnsembleAdversarial",
    "FGSMTraining",
    "FastFGSM",
    "FeatureSqueezing",
    "GradientNorm",
    "GradientNormDetector",
    "MinimalDistortionTraining",
    "PGDTraining",
    "Standard",
    "TrainingMethod",
    "adversarial_loss",
    "train",
]
