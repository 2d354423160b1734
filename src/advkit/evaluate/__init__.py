"""Evaluation: robust accuracy as the per-sample worst case over an attack suite."""

from advkit.evaluate.examples import AdversarialExample
from advkit.evaluate.records import SampleRecord
from advkit.evaluate.report import Evaluation
from advkit.evaluate.run import evaluate
from advkit.evaluate.sanity import MaskingFlag
from advkit.evaluate.suites import SUITES, get_suite
from advkit.evaluate.verification import Verification
from advkit.evaluate.verify import verify_evaluation, verify_results

__all__ = [
    "SUITES",
    "AdversarialExample",
    "Evaluation",
    "MaskingFlag",
    "SampleRecord",
    "Verification",
    "evaluate",
    "get_suite",
    "verify_evaluation",
    "verify_results",
]
