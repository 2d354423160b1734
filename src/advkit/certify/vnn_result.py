"""The answer of a verification run, in VNN-COMP's result format.

VNN-COMP's result file holds one word, ``sat``, ``unsat``, ``unknown``, ``timeout`` (or
``error``), and after ``sat`` the counterexample as one s-expression of the input and
output assignments, ``((X_0 v) (X_1 v) ... (Y_0 v) ...)``, one pair per line.

Example:
    >>> import numpy as np
    >>> from advkit.certify.vnn_result import VnnResult
    >>> res = VnnResult("sat", 0.1, np.array([0.5], np.float32), np.array([-1.0], np.float32))
    >>> print(res.to_text())
    sat
    ((X_0 0.5)
     (Y_0 -1.0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Status", "VnnResult"]

Status = Literal["sat", "unsat", "unknown", "timeout"]


@dataclass(frozen=True, eq=False)
class VnnResult:
    """The outcome of verifying one property.

    Attributes:
        status: ``sat`` (a re-checked counterexample), ``unsat`` (proved), ``unknown``
            (every stage finished undecided) or ``timeout``.
        seconds: wall-clock time of the run.
        x: the counterexample's flat float32 input (``sat`` only).
        y: its float32 output (``sat`` only).
        stage: the stage that decided, or "" when none did.
    """

    status: Status
    seconds: float
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    stage: str = ""

    def __post_init__(self) -> None:
        if (self.status == "sat") != (self.x is not None and self.y is not None):
            raise ValueError("a sat result needs its counterexample (x and y), and only sat")

    def counterexample(self) -> str:
        """The assignment ``((X_0 v) ... (Y_0 v) ...)`` (float32 values written exactly)."""
        if self.x is None or self.y is None:
            raise ValueError(f"a {self.status} result has no counterexample")
        pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(self.x)]
        pairs += [f"(Y_{i} {float(v)!r})" for i, v in enumerate(self.y)]
        return "(" + "\n ".join(pairs) + ")"

    def to_text(self) -> str:
        """The VNN-COMP result file's text."""
        return f"sat\n{self.counterexample()}" if self.status == "sat" else self.status
