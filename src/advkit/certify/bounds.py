"""Bound propagation on a traced :class:`~advkit.certify.graph.Graph`: IBP and CROWN.

Problem solved: lower-bound linear functions c·f(x) of a ReLU network's output over the
input set Δ(x0) = {‖x − x0‖_p ≤ ε} ∩ [lo, hi].

- **Interval bound propagation** (Gowal et al. 2018, "On the effectiveness of interval
  bound propagation for training verifiably robust models"): push a box through each
  node (:meth:`advkit.certify.ops.Operator.interval`).
- **Backward linear relaxation** (CROWN; Zhang et al. 2018, "Efficient neural network
  robustness certification with general activation functions"): propagate the linear
  function backward, each node replacing its output by a linear bound of its inputs
  (:meth:`advkit.certify.ops.Operator.backward`), and take the worst case of the final
  linear function of x over Δ(x0) through the threat's support function ε‖a‖_*
  (intersected with the box).

The walks below only visit the nodes and call their operators; what each operation does
lives in :mod:`advkit.certify.ops`. Both are sound: the returned value is ≤ min over
Δ(x0) of c·f(x).

Example:
    >>> import torch, advkit
    >>> from advkit.certify.bounds import ibp_bounds
    >>> from advkit.certify.graph import trace
    >>> from advkit.certify.input_set import InputSet
    >>> net = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.ReLU()).eval()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(2.0), net[0].bias.fill_(-1.0)
    >>> inputs = InputSet(advkit.Linf(0.25), torch.full((1, 1), 0.5))
    >>> with torch.no_grad():
    ...     ibp_bounds(trace(net, torch.zeros(1, 1)), inputs)
    {2: (tensor([[-0.5000]]), tensor([[0.5000]]))}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from advkit.certify.graph import Graph
from advkit.certify.input_set import InputSet, box_minimum
from advkit.certify.ops import BackwardContext, Box

__all__ = ["Relaxations", "backward_bound", "crown_bounds", "ibp_bounds", "linear_pass"]

# floats of one backward chunk: samples × specifications × largest node size
_CHUNK_FLOATS = 2**25


def _intervals(graph: Graph, inputs: InputSet, *, crown: bool) -> dict[int, Box]:
    """Bounds of every nonlinear node's input (by the node's index) from intervals; with
    ``crown``, first tightened by CROWN where the node's operator asks
    (:meth:`~advkit.certify.ops.Operator.refine`)."""
    boxes: list[Box] = []
    relaxed: dict[int, Box] = {}
    for i, node in enumerate(graph.nodes):
        if node.op.nonlinear:
            src = node.inputs[0]
            todo = node.op.refine(boxes[src]) if crown else None
            if todo is not None and graph.nodes[src].inputs:  # not the input node
                boxes[src] = _tighten(graph, src, todo, inputs, relaxed, boxes[src])
            relaxed[i] = boxes[src]
        boxes.append(node.op.interval(*node.arguments(boxes, (inputs.lower, inputs.upper))))
    return relaxed


def ibp_bounds(graph: Graph, inputs: InputSet) -> dict[int, Box]:
    """Interval bounds (lower, upper), each (N, *shape), of every nonlinear node's input,
    keyed by the nonlinear node's index."""
    return _intervals(graph, inputs, crown=False)


@dataclass(frozen=True, eq=False)
class Relaxations:
    """What the backward steps of one pass may use.

    Attributes:
        inputs: the input set Δ(x0).
        bounds: interval bounds of each nonlinear node's input, by the node's index.
        slopes: α-CROWN lower slopes by ReLU node index (N, K, *shape), if any.
        split_terms: coefficients (N, K, *shape) added to those of a nonlinear node's
            input after its backward step, by the node's index (β-CROWN's Lagrangian
            terms of split constraints, see :mod:`advkit.certify.bab_bound`).
        record: when given, filled with the coefficients (M, K, *shape) reaching each
            nonlinear node's output, by the node's index (branching heuristics).
    """

    inputs: InputSet
    bounds: dict[int, Box] = field(default_factory=dict)
    slopes: dict[int, Tensor] = field(default_factory=dict)
    split_terms: dict[int, Tensor] = field(default_factory=dict)
    record: dict[int, Tensor] | None = None

    def at(self, i: int) -> BackwardContext:
        """The context of node ``i``'s backward step."""
        return BackwardContext(self.inputs, self.bounds.get(i), self.slopes.get(i))


def linear_pass(
    graph: Graph, start: int, spec: Tensor, relax: Relaxations, *, stop_at_relu: bool = False
) -> tuple[Tensor, Tensor | None]:
    """Backward pass from node ``start`` down to the input node (excluded); ``spec`` and
    ``stop_at_relu`` are those of :func:`backward_bound`.

    Returns:
        ``(constant, a)``: ⟨spec, node_start(x)⟩ ≥ constant + ⟨a, x⟩ on Δ(x0), constant
        (N, K), a (M, K, *input shape) with M = 1 while the specification is still shared,
        or None when no coefficient reaches the input.
    """
    n, k = relax.inputs.x0.shape[0], spec.shape[1]
    acc: dict[int, Tensor] = {start: spec}
    total = torch.zeros(n, k, dtype=spec.dtype, device=spec.device)
    for i in range(start, 0, -1):
        a = acc.pop(i, None)
        if a is None:
            continue
        node = graph.nodes[i]
        if a.shape[0] != n and node.op.per_sample:
            a = a.expand(n, *a.shape[1:])
        ctx = relax.at(i)
        if stop_at_relu and node.op.nonlinear:
            total = total + box_minimum(a, *node.op.interval(ctx.require_bounds(node.name)))
            continue
        if relax.record is not None and node.op.nonlinear:
            relax.record[i] = a
        step = node.op.backward(a, ctx)
        if step.constant is not None:
            total = total + step.constant
        coefficients = step.coefficients
        if i in relax.split_terms:
            coefficients = (coefficients[0] + relax.split_terms[i], *coefficients[1:])
        for src, g in zip(node.inputs, coefficients, strict=True):
            acc[src] = acc[src] + g if src in acc else g
    return total, acc.pop(0, None)


def backward_bound(
    graph: Graph,
    start: int,
    spec: Tensor,
    inputs: InputSet,
    bounds: dict[int, Box],
    *,
    stop_at_relu: bool = False,
    slopes: dict[int, Tensor] | None = None,
) -> Tensor:
    """Lower bound of ⟨spec_k, node_start(x)⟩ over Δ(x0), shape (N, K).

    Args:
        graph: the traced network.
        start: index of the node whose output the specification reads.
        spec: coefficients (N, K, *shape of node ``start``), or (1, K, ...) when
            shared by all samples.
        inputs: the input set.
        bounds: interval bounds of the inputs of the nonlinear nodes reached (by the
            node's index: bounds of its input node).
        stop_at_relu: stop at the first nonlinear nodes and use their output intervals
            there (IBP's last affine segment, with the specification folded in).
        slopes: optional lower slopes in [0, 1] per ReLU node, (N, K, *shape), used on
            unstable neurons instead of CROWN's choice (α-CROWN).
    """
    relax = Relaxations(inputs, bounds, slopes or {})
    total, a = linear_pass(graph, start, spec, relax, stop_at_relu=stop_at_relu)
    if a is None:
        return total
    n = inputs.x0.shape[0]
    step = graph.nodes[0].op.backward(a.expand(n, *a.shape[1:]), BackwardContext(inputs))
    assert step.constant is not None
    return total + step.constant


def _tighten(
    graph: Graph,
    idx: int,
    todo_mask: Tensor,
    inputs: InputSet,
    bounds: dict[int, Box],
    box: Box,
) -> Box:
    """CROWN bounds of node ``idx``'s output, intersected with its interval ``box``.

    Only the neurons ``todo_mask`` marks in some sample are bounded again. The backward
    pass starts with one shared copy of the identity specification, which stays shared
    until the first nonlinear node, and runs in chunks.
    """
    lo, hi = box
    n = lo.shape[0]
    shape = graph.nodes[idx].shape
    flat_lo, flat_hi = lo.reshape(n, -1).clone(), hi.reshape(n, -1).clone()
    todo = todo_mask.reshape(n, -1).any(0).nonzero().squeeze(1)
    if todo.numel() == 0:
        return lo, hi
    size = flat_lo.shape[1]
    widest = max(math.prod(nd.shape) for nd in graph.nodes[: idx + 1])
    per = max(1, _CHUNK_FLOATS // max(1, n * widest * 2))
    for s in range(0, todo.numel(), per):
        cols = todo[s : s + per]
        m = cols.numel()
        block = torch.zeros(m, size, dtype=lo.dtype, device=lo.device)
        block[torch.arange(m, device=lo.device), cols] = 1.0
        spec = torch.cat([block, -block]).reshape(1, 2 * m, *shape)
        val = backward_bound(graph, idx, spec, inputs, bounds)
        flat_lo[:, cols] = torch.maximum(flat_lo[:, cols], val[:, :m])
        flat_hi[:, cols] = torch.minimum(flat_hi[:, cols], -val[:, m:])
    return flat_lo.reshape(lo.shape), flat_hi.reshape(hi.shape)


def crown_bounds(graph: Graph, inputs: InputSet) -> dict[int, Box]:
    """CROWN bounds on the input of every nonlinear node (keyed by the node's index).

    Intervals are propagated forward; where a node's operator asks for it
    (:meth:`~advkit.certify.ops.Operator.refine`: the unstable neurons of a ReLU), the
    interval of its input is tightened by a backward pass that uses the bounds of earlier
    nodes (both bounds are sound, so their intersection is), and propagation continues
    from the tightened interval. Max pooling keeps the interval of its input.
    """
    return _intervals(graph, inputs, crown=True)
