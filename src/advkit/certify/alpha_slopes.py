"""The optimizable relaxation parameters of α-CROWN, for the final bound and for every
intermediate bound, and the intermediate bounds they give.

Problem solved: optimizing only the slopes of the final backward pass leaves the
pre-activation bounds at CROWN's, and on networks with more than one hidden layer those
bounds decide which neurons are unstable and how loose their upper lines are. As in
auto_LiRPA (Xu et al. 2021, "Fast and complete: enabling complete neural network
verification with rapid and massively parallel incomplete verifiers"), every bounded
quantity gets its own parameters: the final margins one tensor (N, K, *shape) per
nonlinear node, and the input of every later nonlinear node (its neurons that CROWN
refines, lower and upper bound each) one tensor (N, 2T, *shape) per earlier nonlinear node.
Each pass is sound for any parameter in [0, 1], so the re-computed intermediate bounds,
intersected with CROWN's, are sound and differentiable in the parameters.

Intermediate parameters take memory N · 2T · (widest earlier node); a node whose would
exceed :data:`INTERMEDIATE_FLOATS` keeps CROWN's bounds.

Example:
    >>> import torch, advkit
    >>> from advkit.certify.alpha_slopes import SlopeSet
    >>> from advkit.certify.bounds import crown_bounds
    >>> from advkit.certify.graph import trace
    >>> from advkit.certify.input_set import InputSet
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 5),
    ...                           torch.nn.ReLU(), torch.nn.Linear(5, 2)).eval()
    >>> x0 = torch.full((2, 3), 0.5)
    >>> g, inputs = trace(net, x0), InputSet(advkit.Linf(0.5), x0)
    >>> with torch.no_grad():
    ...     pre = crown_bounds(g, inputs)
    >>> slopes = SlopeSet.build(g, pre, 2, intermediate=True)
    >>> sorted(slopes.final), list(slopes.layers)
    ([2, 4], [4])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.certify.bounds import backward_bound
from advkit.certify.graph import Graph
from advkit.certify.input_set import InputSet
from advkit.certify.ops import Box

__all__ = ["INTERMEDIATE_FLOATS", "RefinedNode", "SlopeSet"]

INTERMEDIATE_FLOATS = 2**25
"""Largest N · 2T · (widest earlier node) for which a node's bounds are optimized."""


def _initial(graph: Graph, pre: dict[int, Box], j: int, rows: int) -> Tensor | None:
    """CROWN's parameters of nonlinear node ``j``, copied for ``rows`` specifications."""
    a = graph.nodes[j].op.lower_slopes(pre[j])
    if a is None:
        return None
    return a[:, None].expand(-1, rows, *a.shape[1:]).clone().requires_grad_(True)


@dataclass(frozen=True, eq=False)
class RefinedNode:
    """The optimized bounds of one nonlinear node's input.

    Attributes:
        cols: flat indices of the neurons re-bounded (those CROWN refines in some sample).
        slopes: parameters (N, 2·len(cols), *shape) of each earlier nonlinear node.
    """

    cols: Tensor
    slopes: dict[int, Tensor]


@dataclass(frozen=True, eq=False)
class SlopeSet:
    """All optimizable parameters of one α-CROWN run.

    Attributes:
        final: parameters (N, K, *shape) of each nonlinear node in the final pass.
        layers: the re-bounded intermediate nodes, by nonlinear node index.
    """

    final: dict[int, Tensor]
    layers: dict[int, RefinedNode]

    @classmethod
    def build(cls, graph: Graph, pre: dict[int, Box], k: int, *, intermediate: bool) -> SlopeSet:
        """Parameters started at CROWN's choice for CROWN's bounds ``pre`` and K margins;
        with ``intermediate``, also for the inputs of the later nonlinear nodes."""
        nonlinear = graph.nonlinear()
        final = {j: a for j in nonlinear if (a := _initial(graph, pre, j, k)) is not None}
        layers: dict[int, RefinedNode] = {}
        for i in nonlinear if intermediate else []:
            src = graph.nodes[i].inputs[0]
            earlier = [j for j in final if j < i]
            todo = graph.nodes[i].op.refine(pre[i])
            if todo is None or not earlier or not graph.nodes[src].inputs:
                continue
            n = todo.shape[0]
            cols = todo.reshape(n, -1).any(0).nonzero().squeeze(1)
            widest = max(math.prod(nd.shape) for nd in graph.nodes[: src + 1])
            if cols.numel() == 0 or n * 2 * cols.numel() * widest > INTERMEDIATE_FLOATS:
                continue
            slopes = {j: _initial(graph, pre, j, 2 * cols.numel()) for j in earlier}
            layers[i] = RefinedNode(cols, {j: s for j, s in slopes.items() if s is not None})
        return cls(final, layers)

    def parameters(self) -> list[Tensor]:
        """Every parameter tensor."""
        mids = [s for node in self.layers.values() for s in node.slopes.values()]
        return [*self.final.values(), *mids]

    def clamp_(self) -> None:
        """Project every parameter back onto [0, 1]."""
        with torch.no_grad():
            for p in self.parameters():
                p.clamp_(0, 1)

    def bounds(self, graph: Graph, inputs: InputSet, pre: dict[int, Box]) -> dict[int, Box]:
        """Input bounds of every nonlinear node: CROWN's ``pre``, with the re-bounded
        neurons replaced by the optimized pass intersected with CROWN's (in node order,
        each pass using the bounds already optimized)."""
        out: dict[int, Box] = {}
        for i in sorted(pre):
            node = self.layers.get(i)
            if node is None:
                out[i] = pre[i]
                continue
            src = graph.nodes[i].inputs[0]
            lo, hi = pre[i]
            n, m = lo.shape[0], node.cols.numel()
            eye = torch.zeros(m, lo[0].numel(), dtype=lo.dtype, device=lo.device)
            eye[torch.arange(m, device=lo.device), node.cols] = 1.0
            spec = torch.cat([eye, -eye]).reshape(1, 2 * m, *lo.shape[1:])
            val = backward_bound(graph, src, spec, inputs, out, slopes=node.slopes)
            flat_lo, flat_hi = lo.reshape(n, -1), hi.reshape(n, -1)
            tight_lo = torch.maximum(flat_lo[:, node.cols], val[:, :m])
            tight_hi = torch.minimum(flat_hi[:, node.cols], -val[:, m:])
            new_lo = flat_lo.index_copy(1, node.cols, tight_lo)
            new_hi = flat_hi.index_copy(1, node.cols, tight_hi)
            out[i] = (new_lo.reshape(lo.shape), new_hi.reshape(hi.shape))
        return out
