"""Evaluation: robust accuracy as the per-sample worst case over an attack suite."""

from advkit.evaluate.records import SampleRecord
from advkit.evaluate.report import Evaluation
from advkit.evaluate.run import evaluate
from advkit.evaluate.sanity import MaskingFlag
from advkit.evaluate.suites import SUITES, get_suite

__all__ = ["SUITES", "Evaluation", "MaskingFlag", "SampleRecord", "evaluate", "get_suite"]
