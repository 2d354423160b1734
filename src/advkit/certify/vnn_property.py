"""A VNN-LIB property as arrays: the input boxes and linear output constraints whose
conjunction describes a counterexample, one pair per disjunct.

Problem solved: a verifier needs a property in a form it can bound and attack. VNN-LIB
states the *violation*: a network input x in a box whose output y satisfies linear
constraints. Its disjunctions are expanded here, so a :class:`Property` is a union of
:class:`Disjunct` s; each is a box ``lower ≤ x ≤ upper`` and rows ``c·y + d ≤ 0`` that must
all hold at a counterexample. The property is violated (``sat``) iff some disjunct has a
point; it holds (``unsat``) iff none has.

Example:
    >>> import numpy as np
    >>> from advkit.certify.vnn_property import Disjunct
    >>> part = Disjunct(np.zeros(2), np.ones(2), np.array([[1.0, -1.0]]), np.zeros(1))
    >>> part.violated(np.array([0.2, 0.7]))
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Disjunct", "Property"]


@dataclass(frozen=True, eq=False)
class Disjunct:
    """One conjunction of the property's violation region.

    Attributes:
        lower: (D,) lower bounds of the flat input.
        upper: (D,) upper bounds of the flat input.
        c: (R, M) coefficients of the output rows.
        d: (R,) constants of the output rows; a counterexample has c·y + d ≤ 0.
    """

    lower: np.ndarray
    upper: np.ndarray
    c: np.ndarray
    d: np.ndarray

    def contains(self, x: np.ndarray) -> bool:
        """Whether the flat input ``x`` lies in the box."""
        return bool(np.all(x >= self.lower) and np.all(x <= self.upper))

    def violated(self, y: np.ndarray) -> bool:
        """Whether the flat output ``y`` satisfies every row (a counterexample's output)."""
        return bool(np.all(self.c @ np.asarray(y, dtype=np.float64) + self.d <= 0))


@dataclass(frozen=True, eq=False)
class Property:
    """A parsed VNN-LIB property.

    Attributes:
        source: the file, for messages.
        num_inputs: the number of declared inputs ``X_i``.
        num_outputs: the number of declared outputs ``Y_i``.
        disjuncts: the violation region, a union of boxes with output rows.
    """

    source: str
    num_inputs: int
    num_outputs: int
    disjuncts: tuple[Disjunct, ...]

    def check_network(self, input_shape: tuple[int, ...], num_outputs: int) -> None:
        """Refuse a network whose per-sample input or output size differs from the
        property's declarations.

        Raises:
            ValueError: the sizes differ (both named).
        """
        size = math.prod(input_shape)
        if size != self.num_inputs:
            raise ValueError(
                f"{self.source} declares {self.num_inputs} inputs (X_0 ... "
                f"X_{self.num_inputs - 1}) but the network takes {size} values per sample "
                f"(shape {input_shape}); use the property written for this network"
            )
        if num_outputs != self.num_outputs:
            raise ValueError(
                f"{self.source} declares {self.num_outputs} outputs (Y_0 ... "
                f"Y_{self.num_outputs - 1}) but the network returns {num_outputs}; use the "
                "property written for this network"
            )
