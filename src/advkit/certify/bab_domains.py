"""Subdomains of branch and bound: input boxes and ReLU split decisions, as batches.

Problem solved: branch and bound keeps thousands of subproblems of one verification
problem ("is min over the input box of c·f(x) + d > 0 for every row"), each an input box
and a set of ReLU split decisions (active: h ≥ 0, inactive: h ≤ 0). Storing them as one
batch of tensors lets the bounding step handle many at once on the model's device.

:class:`ReluLayout` numbers the neurons of every ReLU node of a traced graph in one flat
vector; :class:`Domains` holds a batch of subdomains; :func:`clipped_bounds` turns the
interval bounds of the ReLU inputs into those of each subdomain (an active split raises
the lower bound to 0, an inactive one lowers the upper bound to 0, so the ReLU relaxation
treats a split neuron as the identity or as 0).

Example:
    >>> import torch
    >>> from advkit.certify.graph import trace
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(),
    ...                           torch.nn.Linear(3, 1)).eval()
    >>> layout = ReluLayout.of(trace(net, torch.zeros(1, 2)))
    >>> layout.size, [(layer.node, layer.start) for layer in layout.layers]
    (3, [(2, 0)])
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

__all__ = [
    "Domains",
    "ReluLayer",
    "ReluLayout",
    "clipped_bounds",
    "property_bound",
    "refined_bounds",
]

# floats of one refinement chunk: subdomains × specifications × widest node
_CHUNK_FLOATS = 2**25


def property_bound(bound: Tensor, any_row: bool) -> Tensor:
    """(B,) a lower bound of the property's value from row bounds (B, K): the smallest
    row bound (every row must be positive), or with ``any_row`` the largest (one row
    positive on the whole subdomain proves it)."""
    return bound.amax(dim=1) if any_row else bound.amin(dim=1)


@dataclass(frozen=True)
class ReluLayer:
    """One ReLU node's neurons in the flat split vector.

    Attributes:
        node: the ReLU node's index in the graph.
        source: the index of its input node (the pre-activations h).
        shape: the per-sample shape of h.
        start: the first position of its neurons in the flat vector.
    """

    node: int
    source: int
    shape: tuple[int, ...]
    start: int

    @property
    def size(self) -> int:
        """Number of neurons."""
        return math.prod(self.shape)

    def part(self, flat: Tensor) -> Tensor:
        """This layer's slice of ``flat`` (B, S), shaped (B, *shape)."""
        return flat[:, self.start : self.start + self.size].reshape(-1, *self.shape)


@dataclass(frozen=True)
class ReluLayout:
    """The ReLU nodes of a graph, their neurons numbered in one flat vector."""

    layers: tuple[ReluLayer, ...]
    size: int
    only_relu: bool

    @classmethod
    def of(cls, graph: Graph) -> ReluLayout:
        """The layout of ``graph``'s ReLU nodes; ``only_relu`` tells whether ReLUs are
        its only nonlinear nodes (then a fully split subdomain is affine)."""
        layers, start = [], 0
        for i in graph.nonlinear():
            node = graph.nodes[i]
            if node.kind != "relu":
                continue
            layer = ReluLayer(i, node.inputs[0], graph.nodes[node.inputs[0]].shape, start)
            layers.append(layer)
            start += layer.size
        only = all(graph.nodes[i].kind == "relu" for i in graph.nonlinear())
        return cls(tuple(layers), start, only)


@dataclass(frozen=True, eq=False)
class Domains:
    """A batch of B subdomains.

    Attributes:
        lower: (B, *input shape) input box lower corners.
        upper: (B, *input shape) upper corners.
        splits: (B, S) int8 decisions per ReLU neuron (+1 active, −1 inactive, 0 free).
        bound: (B, K) lower bounds of the rows over each subdomain.
        scores: (B, C) branching scores (ReLU neurons or input coordinates; −inf where
            nothing can be split).
    """

    lower: Tensor
    upper: Tensor
    splits: Tensor
    bound: Tensor
    scores: Tensor

    def __len__(self) -> int:
        return int(self.lower.shape[0])

    def take(self, rows: Tensor) -> Domains:
        """The subdomains ``rows`` (an index or boolean mask)."""
        return Domains(
            self.lower[rows],
            self.upper[rows],
            self.splits[rows],
            self.bound[rows],
            self.scores[rows],
        )

    @staticmethod
    def cat(parts: list[Domains]) -> Domains:
        """All subdomains of ``parts`` in one batch."""
        return Domains(*(torch.cat([getattr(p, f) for p in parts]) for f in _FIELDS))

    def worst(self, any_row: bool = False) -> Tensor:
        """(B,) the smallest row bound of each subdomain (the largest with ``any_row``:
        one positive row proves a subdomain then)."""
        return property_bound(self.bound, any_row)


_FIELDS = ("lower", "upper", "splits", "bound", "scores")


def clipped_bounds(
    pre: dict[int, Box], layout: ReluLayout, splits: Tensor, batch: int
) -> dict[int, Box]:
    """The nonlinear nodes' input bounds of ``batch`` subdomains under their splits.

    Args:
        pre: bounds by nonlinear node index, each (1 or B, *shape).
        layout: the ReLU layout of the graph.
        splits: (B, S) split decisions.
        batch: B.
    """
    out = {
        i: (lo.expand(batch, *lo.shape[1:]), hi.expand(batch, *hi.shape[1:]))
        for i, (lo, hi) in pre.items()
    }
    for layer in layout.layers:
        lo, hi = out[layer.node]
        s = layer.part(splits)
        lo = torch.where(s > 0, lo.clamp_min(0), lo)
        hi = torch.where(s < 0, hi.clamp_max(0), hi)
        out[layer.node] = (lo, hi)
    return out


def refined_bounds(
    graph: Graph, layout: ReluLayout, boxes: dict[int, Box], inputs: InputSet
) -> dict[int, Box]:
    """The subdomains' ReLU input bounds tightened layer by layer under their splits.

    Each ReLU layer after the first has the unstable neurons of its input bounded again
    by a CROWN pass that uses the (clipped, already refined) bounds of the earlier layers,
    so a split in one layer tightens every later one; the result is intersected with
    ``boxes``. Valid on each subdomain (the relaxations hold there).

    Args:
        graph: the traced network.
        layout: its ReLU layout.
        boxes: (B, *shape) clipped bounds of every nonlinear node's input.
        inputs: the subdomains' input boxes.
    """
    out = dict(boxes)
    widest = max(math.prod(nd.shape) for nd in graph.nodes)
    for layer in layout.layers[1:]:
        lo, hi = out[layer.node]
        b = lo.shape[0]
        flat_lo, flat_hi = lo.reshape(b, -1).clone(), hi.reshape(b, -1).clone()
        todo = ((flat_lo < 0) & (flat_hi > 0)).any(0).nonzero().squeeze(1)
        per = max(1, _CHUNK_FLOATS // max(1, b * widest * 2))
        for s in range(0, todo.numel(), per):
            cols = todo[s : s + per]
            m = cols.numel()
            block = torch.zeros(m, layer.size, dtype=lo.dtype, device=lo.device)
            block[torch.arange(m, device=lo.device), cols] = 1.0
            spec = torch.cat([block, -block]).reshape(1, 2 * m, *layer.shape)
            val = backward_bound(graph, layer.source, spec, inputs, out)
            flat_lo[:, cols] = torch.maximum(flat_lo[:, cols], val[:, :m])
            flat_hi[:, cols] = torch.minimum(flat_hi[:, cols], -val[:, m:])
        out[layer.node] = (flat_lo.reshape(lo.shape), flat_hi.reshape(hi.shape))
    return out
