"""The mixed-integer linear program of one sample on a traced graph.

Problem solved: state "x ∈ Δ(x0) and z = f(x)" as linear rows over continuous and binary
variables, so that a MILP solver can minimize any linear function of the logits exactly
(Tjeng, Xiao & Tedrake 2019, "Evaluating robustness of neural networks with mixed integer
programming"). The variables are [x (D), t (the radius, optional), u (the L1 ball's
auxiliaries, optional), then whatever each operator adds]; each node's output is an
affine expression M v + c over them, built by the node's operator
(:meth:`advkit.certify.ops.Operator.milp`). :func:`advkit.certify.mip.solve` solves it.

Example:
    >>> import numpy as np, torch
    >>> from advkit.certify.graph import trace
    >>> from advkit.certify.milp import encode
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 1)).eval()
    >>> prog = encode(trace(net, torch.zeros(1, 2)), {}, np.zeros(2), np.ones(2))
    >>> prog.nv, prog.out_m.shape
    (2, (1, 2))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from advkit.certify.graph import Graph
    from advkit.certify.ops.base import Expr, NpBox

__all__ = ["Program", "encode", "pad"]


def pad(m: np.ndarray, width: int) -> np.ndarray:
    """``m`` (R, C) with zero columns appended up to ``width``."""
    if m.shape[1] == width:
        return m
    return np.concatenate([m, np.zeros((m.shape[0], width - m.shape[1]))], axis=1)


class Program:
    """Variables (bounds, integrality) and rows lo ≤ coefficients·v ≤ hi of one sample.

    Args:
        lower: flat lower bounds of the input (D,).
        upper: flat upper bounds of the input (D,).
        with_radius: add the radius variable t ≥ 0 after x (minimal-distance problems).
        l1: (center, ε) to add the L1 ball ‖x − center‖₁ ≤ ε (≤ t with a radius).
    """

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        with_radius: bool,
        l1: tuple[np.ndarray, float] | None = None,
    ) -> None:
        d = lower.size
        self.d = d
        self.nv = d + (1 if with_radius else 0)
        self.lb = list(lower) + ([0.0] if with_radius else [])
        self.ub = list(upper) + ([np.inf] if with_radius else [])
        self.integer = [0] * self.nv
        self.rows: list[tuple[np.ndarray, float, float]] = []  # (coefficients, lo, hi)
        self.out_m = np.zeros((0, self.nv))
        self.out_c = np.zeros(0)
        if l1 is not None:
            self._l1_ball(*l1, with_radius)

    def add_variables(self, lb: list[float], ub: list[float], integer: list[int]) -> int:
        """Append variables; returns the index of the first one."""
        base = self.nv
        self.nv += len(lb)
        self.lb += lb
        self.ub += ub
        self.integer += integer
        return base

    def add_row(self, coefficients: np.ndarray, lo: float, hi: float) -> None:
        """Append the row lo ≤ coefficients·v ≤ hi."""
        self.rows.append((coefficients, lo, hi))

    def inputs(self) -> Expr:
        """The input x as expressions over the variables (the input node's argument)."""
        return np.eye(self.d, self.nv), np.zeros(self.d)

    def _l1_ball(self, center: np.ndarray, eps: float, with_radius: bool) -> None:
        """‖x − center‖₁ ≤ eps (or ≤ t): u ≥ |x − center| per coordinate, Σ u ≤ budget."""
        d = self.d
        base = self.add_variables([0.0] * d, [np.inf] * d, [0] * d)
        for q in range(d):
            for sign in (1.0, -1.0):  # ±(x_q − c_q) − u_q ≤ 0
                row = np.zeros(self.nv)
                row[q], row[base + q] = sign, -1.0
                self.add_row(row, -np.inf, sign * float(center[q]))
        row = np.zeros(self.nv)
        row[base:] = 1.0
        if with_radius:  # the budget t, capped at eps (the bounds hold inside that ball)
            row[d] = -1.0
            self.ub[d] = float(eps)
        self.add_row(row, -np.inf, 0.0 if with_radius else float(eps))

    def output_row(self, coef: np.ndarray) -> tuple[np.ndarray, float]:
        """coef · logits as (row over variables, constant)."""
        return pad((coef @ self.out_m)[None], self.nv)[0], float(coef @ self.out_c)


def encode(
    graph: Graph,
    bounds: dict[int, NpBox],
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    with_radius: bool = False,
    l1: tuple[np.ndarray, float] | None = None,
) -> Program:
    """The program of ``graph`` on one sample, its output expressions in ``out_m, out_c``.

    Args:
        graph: the traced network.
        bounds: flat float64 bounds of each nonlinear node's input, by node index.
        lower: flat lower bounds of the input (D,); upper: the upper bounds.
        with_radius: add the radius variable t (see :class:`Program`).
        l1: (center, ε) of an L1 ball (see :class:`Program`).

    Raises:
        TypeError: an operator has no MILP encoding (named in the message).
    """
    prog = Program(lower, upper, with_radius, l1)
    exprs: list[Expr] = []
    for i, node in enumerate(graph.nodes):
        args = [exprs[j] for j in node.inputs] if node.inputs else [prog.inputs()]
        exprs.append(node.op.milp(prog, args, bounds.get(i)))
    prog.out_m, prog.out_c = exprs[-1]
    return prog
