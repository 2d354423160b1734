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
from advkit.certify.graph import Graph
from advkit.certify.input_set import InputSet
from advkit.certify.ops import Box

__all__ = ["FixedResult", "solve_fixed"]


@dataclass(frozen=True, eq=False)
class FixedResult:
    """The linear programs of one fully split subdomain.

    Attributes:
        lower: (K,) float64 lower bounds of each row over the subdomain (+inf when the
            subdomain is empty).
        point: the minimizer of the worst row (*input shape), or None when empty.
    """

    lower: Tensor
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


def solve_fixed(
    graph: Graph,
    layout: ReluLayout,
    boxes: dict[int, Box],
    lower: Tensor,
    upper: Tensor,
    splits: Tensor,
    spec: Tensor,
    offset: Tensor,
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
    """
    relax = Relaxations(InputSet.of_box(lower, upper), boxes)
    a, b = _affine(graph, len(graph.nodes) - 1, spec, relax)
    b = b + offset[0].double().cpu().numpy()
    a_ub, b_ub = _split_rows(graph, layout, splits, relax)
    lo = lower.reshape(-1).double().cpu().numpy()
    hi = upper.reshape(-1).double().cpu().numpy()
    out = np.full(a.shape[0], np.inf)
    worst, point = np.inf, None
    for k in range(a.shape[0]):
        res = linprog(
            a[k],
            A_ub=a_ub if a_ub.size else None,
            b_ub=b_ub if a_ub.size else None,
            bounds=np.stack([lo, hi], axis=1),
            method="highs",
        )
        if res.status == 2:  # infeasible: the subdomain is empty
            return FixedResult(torch.full((a.shape[0],), torch.inf, dtype=torch.float64), None)
        if res.status != 0:
            out[k] = _box_min(a[k], lo, hi) + b[k]  # the split rows dropped: still valid
            continue
        lam = -np.asarray(res.ineqlin.marginals) if a_ub.size else np.zeros(0)
        lam = np.clip(lam, 0, None)
        out[k] = _box_min(a[k] + lam @ a_ub, lo, hi) - float(lam @ b_ub) + b[k]
        if float(res.fun) + b[k] < worst:
            worst, point = float(res.fun) + b[k], res.x
    x = None if point is None else torch.from_numpy(point).to(lower).reshape(lower.shape[1:])
    return FixedResult(torch.from_numpy(out), x)
