"""The RobustBench model_info entry of an evaluation: ε as RobustBench writes it, and only
the threat models RobustBench ranks."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from advkit.evaluate.records import SampleRecord
from advkit.evaluate.report import Evaluation
from advkit.evaluate.robustbench_info import eps_text, robustbench_info


@pytest.mark.parametrize(
    ("eps", "text"),
    [
        (8 / 255, "8/255"),
        (4 / 255, "4/255"),
        (1 / 255, "1/255"),
        (0.5, "0.5"),
        (0.2, "0.2"),  # 51/255 exactly, but the decimal is shorter
        (0.0313, "0.0313"),  # close to 8/255, not equal: written as given
        (0.3, "0.3"),
        (math.inf, "inf"),
    ],
)
def test_eps_is_written_as_a_fraction_of_255_only_where_exact(eps: float, text: str) -> None:
    assert eps_text(eps) == text
    assert (float(Fraction(text)) if "/" in text else float(text)) == eps  # the same ε


def _evaluation(clean: float, robust: float) -> Evaluation:
    record = SampleRecord(index=0, label=1, clean_pred=1, robust=True)
    return Evaluation(
        threat="l2 eps=0.5 box=[0.0, 1.0]",
        eps=0.5,
        suite=["apgd-ce"],
        n=3,
        clean_accuracy=clean,
        robust_accuracy=robust,
        curve=[(0.5, robust)],
        samples={0.5: [record]},
        seconds=0.0,
    )


def test_accuracies_are_percent_strings_with_robustbench_rounding() -> None:
    info = robustbench_info(_evaluation(2 / 3, 1 / 3), "l2")
    assert (info["clean_acc"], info["autoattack_acc"]) == ("66.67", "33.33")
    assert (info["eps"], info["threat_model"], info["dataset"]) == ("0.5", "L2", None)
    assert info["advkit"]["suite"] is None and "suite apgd-ce," in info["footnote"]


@pytest.mark.parametrize("norm", ["l1", "l0"])
def test_norms_without_a_leaderboard_are_refused(norm: str) -> None:
    with pytest.raises(ValueError, match="Linf and L2 threat models only"):
        robustbench_info(_evaluation(1.0, 1.0), norm)
