"""VNN-COMP's result format: one word, and after ``sat`` the assignment of every input
and output, float32 values written exactly."""

from __future__ import annotations

import numpy as np
import pytest

from advkit.certify.vnn_result import VnnResult


def test_sat_prints_every_input_and_output_exactly() -> None:
    x = np.array([0.1, -2.0], np.float32)
    text = VnnResult("sat", 1.0, x, np.array([3.5], np.float32)).to_text()
    lines = text.splitlines()
    assert lines[0] == "sat" and lines[1].startswith("((X_0 ") and lines[-1] == " (Y_0 3.5))"
    assert np.float32(float(lines[1].split()[1].rstrip(")"))) == x[0]


@pytest.mark.parametrize("status", ["unsat", "unknown", "timeout"])
def test_other_answers_are_one_word(status: str) -> None:
    assert VnnResult(status, 1.0).to_text() == status  # type: ignore[arg-type]


def test_sat_needs_its_counterexample() -> None:
    with pytest.raises(ValueError, match="counterexample"):
        VnnResult("sat", 1.0)
    with pytest.raises(ValueError, match="no counterexample"):
        VnnResult("unsat", 1.0).counterexample()
