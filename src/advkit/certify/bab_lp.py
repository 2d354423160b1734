"""The exact finisher of branch and bound: a fully split subdomain as a linear program.

Problem solved: when every ReLU of a subdomain is fixed (split or stable) and ReLUs are
the network's only nonlinearities, the network is affine on the subdomain, so CROWN's
backward pass is exact there: c·f(x) + d = a·x + b, and each split constraint
s_i·h_i(x) ≥ 0 is affine too. The minimum over the subdomain is then a linear program
(box plus split rows), solved by HiGHS (:func:`scipy.optimize.linprog`). The bound
reported is not the solver's primal value but the Lagrangian bound of its dual
multipliers λ ≥ 0, min over the box of (a − λ·A)·x + b + λ·e, recomputed in float64: a
valid lower bound whatever the solver's tolerances, equal to the optimum when the
multipliers are optimal. The primal solution is the candidate counterexample.

Example:
    >>> import torch
    >>> from advkit.certify.bab_domains import ReluLayout
    >>> from advkit.certify.graph import trace
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2)).eval()
    >>> g = trace(net, torch.zeros(1, 2))
    >>> res = solve_fixed(g, ReluLayout.of(g), {}, torch.zeros(1, 2), torch.ones(1, 2),
    ...                   torch.zeros(1, 0, dtype=torch.int8), torch.eye(2)[None],
    ...                   torch.full((1, 2), 5.0))
    >>> res.lower.shape
    torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linprog
from torch import Tensor

from advkit.certify.bab_domains import ReluLayout
from advkit.certify.bounds import Relaxations, linear_pass
from advkit.certify.box_set import BoxSet
from advkit.certify.graph import Graph
from advkit.certify.ops import Box

__all__ = ["FixedResult", "solve_fixed"]


@dataclass(frozen=True, eq=False)
class FixedResult:
    """The linear programs of one fully split subdomain.

    Attributes:
        lower: (K,) float64 lower bounds of each row over the subdomain (+inf when the
            subdomain is empty).
        value: a lower bound of the property's value over the subdomain (the smallest
            row, or the largest with ``any_row``); the subdomain is proved when > 0.
        point: the minimizer of the worst row (of the largest row with ``any_row``),
            *input shape, or None when empty.
    """

    lower: Tensor
    value: float
    point: Tensor | None


def _affine(
    graph: Graph, start: int, spec: Tensor, relax: Relaxations
) -> tuple[np.ndarray, np.ndarray]:
    """⟨spec_k, node_start(x)⟩ = b_k + a_k·x exactly (all ReLUs fixed): (a (K, D), b (K,))."""
    total, a = linear_pass(graph, start, spec, relax)
    k = spec.shape[1]
    d = relax.inputs.lower[0].numel()
    a_np = np.zeros((k, d)) if a is None else a[0].detach().reshape(k, d).double().cpu().numpy()
    return a_np, total[0].detach().double().cpu().numpy()


def _split_rows(
    graph: Graph, layout: ReluLayout, splits: Tensor, relax: Relaxations
) -> tuple[np.ndarray, np.ndarray]:
    """The split constraints s_i·h_i(x) ≥ 0 as rows A x ≤ e: (A (M, D), e (M,))."""
    rows, rhs = [], []
    for layer in layout.layers:
        s = splits[0, layer.start : layer.start + layer.size]
        idx = s.nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        sel = torch.zeros(idx.numel(), layer.size, dtype=relax.inputs.lower.dtype)
        sel[torch.arange(idx.numel()), idx] = s[idx].to(sel.dtype)
        spec = sel.to(relax.inputs.lower.device).reshape(1, idx.numel(), *layer.shape)
        a, b = _affine(graph, layer.source, spec, relax)
        rows.append(-a)  # s·h = a·x + b ≥ 0  ⇔  −a·x ≤ b
        rhs.append(b)
    if not rows:
        return np.zeros((0, relax.inputs.lower[0].numel())), np.zeros(0)
    return np.concatenate(rows), np.concatenate(rhs)


def _box_min(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    return float(np.sum(np.where(c >= 0, c * lo, c * hi)))


@dataclass(frozen=True)
class _Lp:
    """min over x in [lo, hi] with A x ≤ e of an affine objective, as float64 arrays."""

    lo: np.ndarray
    hi: np.ndarray
    a_ub: np.ndarray
    e_ub: np.ndarray

    def solve(self, c: np.ndarray) -> tuple[int, np.ndarray | None, np.ndarray]:
        """HiGHS on min c·x: (status, solution, multipliers ≥ 0 of the rows)."""
        res = linprog(
            c,
            A_ub=self.a_ub if self.a_ub.size else None,
            b_ub=self.e_ub if self.a_ub.size else None,
            bounds=np.stack([self.lo, self.hi], axis=1),
            method="highs",
        )
        if res.status != 0:
            return int(res.status), None, np.zeros(self.e_ub.size)
        lam = -np.asarray(res.ineqlin.marginals) if self.a_ub.size else np.zeros(0)
        return 0, res.x, np.clip(lam, 0, None)

    def lagrangian(self, c: np.ndarray, const: float, lam: np.ndarray) -> float:
        """min over the box of c·x + const + λ·(A x − e): a lower bound for any λ ≥ 0."""
        return _box_min(c + lam @ self.a_ub, self.lo, self.hi) + const - float(lam @ self.e_ub)


def _rows_minima(lp: _Lp, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's minimum (K,) and the minimizer of the worst row; None if infeasible."""
    out = np.full(a.shape[0], np.inf)
    worst, point = np.inf, None
    for k in range(a.shape[0]):
        status, x, lam = lp.solve(a[k])
        if status == 2:  # infeasible: the subdomain is empty
            return np.full(a.shape[0], np.inf), None
        out[k] = lp.lagrangian(a[k], b[k], lam)  # λ = 0 when unsolved: still valid
        if x is not None and float(a[k] @ x) + b[k] < worst:
            worst, point = float(a[k] @ x) + b[k], x
    return out, point


def _max_row_minimum(lp: _Lp, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray | None]:
    """min over the subdomain of max_k a_k·x + b_k, through t ≥ a_k·x + b_k: the bound of
    the simplex-normalized row multipliers μ (max_k ≥ Σ μ_k rows) and the minimizer."""
    k, d = a.shape
    rows = np.concatenate([np.concatenate([a, -np.ones((k, 1))], 1), _pad(lp.a_ub, d + 1)])
    reach = max(1.0, float(np.abs(lp.lo).max()), float(np.abs(lp.hi).max()))
    span = float(np.abs(b).max() + np.abs(a).sum(1).max() * reach + 1)  # ≥ |any row|
    epi = _Lp(np.append(lp.lo, -span), np.append(lp.hi, span), rows, np.concatenate([-b, lp.e_ub]))
    status, x, lam = epi.solve(np.append(np.zeros(d), 1.0))
    if status == 2:
        return np.inf, None
    mu, lam_split = lam[:k], lam[k:]
    mu = mu / mu.sum() if mu.sum() > 0 else np.full(k, 1.0 / k)
    value = lp.lagrangian(mu @ a, float(mu @ b), lam_split)
    return value, None if x is None else x[:d]


def _pad(m: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([m, np.zeros((m.shape[0], width - m.shape[1]))], 1)


def solve_fixed(
    graph: Graph,
    layout: ReluLayout,
    boxes: dict[int, Box],
    lower: Tensor,
    upper: Tensor,
    splits: Tensor,
    spec: Tensor,
    offset: Tensor,
    *,
    any_row: bool = False,
) -> FixedResult:
    """Exact row minima over one fully split subdomain.

    Args:
        graph: the network (ReLUs its only nonlinear nodes).
        layout: its ReLU layout.
        boxes: the subdomain's clipped bounds of each ReLU input, (1, *shape); every
            neuron must be stable under them.
        lower, upper: (1, *input shape) the subdomain's box.
        splits: (1, S) its split decisions.
        spec, offset: (1, K, *output shape) and (1, K) the rows.
        any_row: the property holds when one row is positive (its value is the minimum
            of the largest row, an epigraph LP); default: every row.
    """
    relax = Relaxations(BoxSet(lower, upper), boxes)
    a, b = _affine(graph, len(graph.nodes) - 1, spec, relax)
    b = b + offset[0].double().cpu().numpy()
    a_ub, e_ub = _split_rows(graph, layout, splits, relax)
    lo = lower.reshape(-1).double().cpu().numpy()
    hi = upper.reshape(-1).double().cpu().numpy()
    lp = _Lp(lo, hi, a_ub, e_ub)
    minima, point = _rows_minima(lp, a, b)
    value = float(minima.min())
    if any_row and np.isfinite(minima).any():
        value, point = _max_row_minimum(lp, a, b)
        value = max(value, float(minima.max()))
    x = None if point is None else torch.from_numpy(point).to(lower).reshape(lower.shape[1:])
    return FixedResult(torch.from_numpy(minima), value, x)
