"""Bound propagation on a traced :class:`~advkit.certify.graph.Graph`: IBP and CROWN.

Problem solved: lower-bound linear functions c·f(x) of a ReLU network's output over the
input set Δ(x0) = {‖x − x0‖_p ≤ ε} ∩ [lo, hi].

- **Interval bound propagation** (Gowal et al. 2018, "On the effectiveness of interval
  bound propagation for training verifiably robust models"): push a box through each
  layer (center through the map, radius through |J|).
- **Backward linear relaxation** (CROWN; Zhang et al. 2018, "Efficient neural network
  robustness certification with general activation functions"): propagate the linear
  function backward, replacing each ReLU by a linear lower or upper bound chosen by the
  sign of its coefficient, and take the worst case of the final linear function of x over
  Δ(x0) through the threat's support function ε‖a‖_* (intersected with the box).
- **Max pooling** y = max_{i ∈ W} x_i, given input bounds [l, u], is relaxed as in DeepPoly
  (Singh et al. 2019, "An abstract domain for certifying neural networks"): the lower
  bound y ≥ x_{i*} with i* the window's largest lower bound; the upper bound y = x_{i*}
  when i* dominates (l_{i*} ≥ u_j for every other j in the window, then the max is exact),
  else the constant y ≤ max_i u_i. Intervals pass through max pooling exactly (it is
  monotone).

Both are sound: the returned value is ≤ min over Δ(x0) of c·f(x).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from advkit.certify.graph import Graph, MaxPool
from advkit.threat import Linf, ThreatModel

__all__ = [
    "InputSet",
    "backward_bound",
    "crown_bounds",
    "ibp_bounds",
    "maxpool_relaxation",
    "relu_relaxation",
]

# floats of one backward chunk: samples × specifications × largest node size
_CHUNK_FLOATS = 2**25


class InputSet:
    """Δ(x0) = ball ∩ box for a batch, with its worst case for linear functions.

    Args:
        threat: the threat model (its ε may be per sample).
        x0: clean inputs (N, ...).
    """

    def __init__(self, threat: ThreatModel, x0: Tensor) -> None:
        self.threat, self.x0 = threat, x0
        eps = threat.radius(x0)
        # every coordinate moves by at most ε for any ℓp ball, so this box contains Δ(x0)
        self.lower = (x0 - eps).clamp(threat.lo, threat.hi)
        self.upper = (x0 + eps).clamp(threat.lo, threat.hi)

    def select(self, rows: Tensor) -> InputSet:
        """The input set of the samples ``rows``."""
        return InputSet(self.threat.select(rows), self.x0[rows])

    def minimum(self, a: Tensor, c: Tensor) -> Tensor:
        """A lower bound of min_{x ∈ Δ(x0)} ⟨a_k, x⟩ + c_k, shape (N, K), for a (N, K, ...).

        Exact for L∞ (the set is a box); for L2/L1 the larger of the ball's value
        ⟨a, x0⟩ − ε‖a‖_* and the box's value (each is a valid bound).
        """
        n, k = a.shape[:2]
        af = a.reshape(n, k, -1)
        lo, hi = self.lower.reshape(n, 1, -1), self.upper.reshape(n, 1, -1)
        box = (af.clamp_min(0) * lo + af.clamp_max(0) * hi).sum(-1)
        if isinstance(self.threat, Linf):
            return box + c
        ball = (af * self.x0.reshape(n, 1, -1)).sum(-1) - self.threat.support(af, batch_dims=2)
        return torch.maximum(box, ball) + c


def ibp_bounds(graph: Graph, inputs: InputSet) -> list[tuple[Tensor, Tensor]]:
    """Interval bounds (lower, upper), each (N, *shape), of every node's output."""
    out: list[tuple[Tensor, Tensor]] = []
    for node in graph.nodes:
        if node.kind == "input":
            out.append((inputs.lower, inputs.upper))
        elif node.kind == "affine":
            assert node.op is not None
            lo, hi = out[node.inputs[0]]
            mid = node.op.forward((hi + lo) / 2)
            rad = node.op.abs_forward((hi - lo) / 2)
            out.append((mid - rad, mid + rad))
        elif node.kind == "relu":
            lo, hi = out[node.inputs[0]]
            out.append((lo.clamp_min(0), hi.clamp_min(0)))
        elif node.kind == "maxpool":
            assert node.pool is not None
            lo, hi = out[node.inputs[0]]
            out.append((node.pool.forward(lo), node.pool.forward(hi)))
        else:
            (la, ha), (lb, hb) = out[node.inputs[0]], out[node.inputs[1]]
            out.append((la + lb, ha + hb))
    return out


def relu_relaxation(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Linear bounds of relu(h) for h ∈ [lo, hi] (Zhang et al. 2018).

    Returns:
        ``(upper_slope, upper_intercept, lower_slope, unstable)``: relu(h) ≤ s·h + t and
        relu(h) ≥ a·h, with CROWN's adaptive lower slope a = 1 if hi > −lo else 0 on
        unstable neurons (a may be replaced by any value in [0, 1] there).
    """
    unstable = (lo < 0) & (hi > 0)
    active = lo >= 0
    denom = torch.where(unstable, hi - lo, torch.ones_like(hi))
    s = torch.where(unstable, hi / denom, active.to(hi.dtype))
    t = torch.where(unstable, -s * lo, torch.zeros_like(lo))
    a = torch.where(unstable, (hi > -lo).to(hi.dtype), active.to(hi.dtype))
    return s, t, a, unstable


def maxpool_relaxation(pool: MaxPool, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Linear bounds of max pooling for inputs in [lo, hi] (N, C, H, W) (DeepPoly).

    Returns:
        ``(index, dominated, upper)``, each (N, C, L) over the L pooled outputs: the flat
        H·W position i* of the window's largest lower bound (y ≥ x_{i*}); whether i*
        dominates the window (then y ≤ x_{i*} too); the constant upper bound max u.
    """
    n, c, h, w = lo.shape
    low = pool.windows(lo, float("-inf"))
    high = pool.windows(hi, float("-inf"))
    best = low.argmax(dim=2, keepdim=True)
    others = high.scatter(2, best, float("-inf")).amax(dim=2, keepdim=True)
    dominated = (low.gather(2, best) >= others).squeeze(2)
    where = torch.arange(h * w, dtype=lo.dtype, device=lo.device).reshape(1, 1, h, w)
    places = pool.windows(where, -1.0).expand(n, c, -1, -1)
    index = places.gather(2, best).squeeze(2).long()
    return index, dominated, high.amax(dim=2)


def backward_bound(
    graph: Graph,
    start: int,
    spec: Tensor,
    inputs: InputSet,
    bounds: dict[int, tuple[Tensor, Tensor]],
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
        bounds: interval bounds of the inputs of the ReLU and max-pooling nodes reached
            (by the node's index: bounds of its input node).
        stop_at_relu: stop at the first ReLU outputs and use their interval bounds there
            (IBP's last affine segment, with the specification folded in).
        slopes: optional lower slopes in [0, 1] per ReLU node, (N, K, *shape), used on
            unstable neurons instead of CROWN's choice (α-CROWN).
    """
    n, k = inputs.x0.shape[0], spec.shape[1]
    acc: dict[int, Tensor] = {start: spec}
    total = torch.zeros(n, k, dtype=spec.dtype, device=spec.device)
    for i in range(start, -1, -1):
        a = acc.pop(i, None)
        if a is None:
            continue
        node = graph.nodes[i]
        if a.shape[0] != n and node.kind in ("input", "relu", "maxpool"):
            a = a.expand(n, *a.shape[1:])
        if node.kind == "input":
            total = total + inputs.minimum(a, torch.zeros_like(total))
            continue
        if node.kind in ("relu", "maxpool") and stop_at_relu:
            lo, hi = bounds[i]  # of the node's input; map them to its output's interval
            if node.pool is not None:
                lo, hi = node.pool.forward(lo), node.pool.forward(hi)
            af = a.reshape(n, k, -1)
            lo_f, hi_f = lo.clamp_min(0).reshape(n, 1, -1), hi.clamp_min(0).reshape(n, 1, -1)
            total = total + (af.clamp_min(0) * lo_f + af.clamp_max(0) * hi_f).sum(-1)
            continue
        if node.kind == "affine":
            assert node.op is not None
            m = a.shape[0]  # 1 while the specification is shared by all samples
            total = total + (a.reshape(m, k, -1) * node.op.bias.reshape(1, 1, -1)).sum(-1)
            back = node.op.transpose(a.reshape(m * k, *node.shape))
            passed = [back.reshape(m, k, *back.shape[1:])]
        elif node.kind == "relu":
            lo, hi = bounds[i]
            s, t, low, unstable = relu_relaxation(lo[:, None], hi[:, None])
            if slopes is not None and i in slopes:
                low = torch.where(unstable, slopes[i].clamp(0, 1), low)
            pos, neg = a.clamp_min(0), a.clamp_max(0)
            total = total + (neg * t).reshape(n, k, -1).sum(-1)
            passed = [pos * low + neg * s]
        elif node.kind == "maxpool":
            assert node.pool is not None
            lo, hi = bounds[i]
            index, dominated, upper = maxpool_relaxation(node.pool, lo, hi)
            c, hw = lo.shape[1], lo[0, 0].numel()
            af = a.reshape(n, k, c, -1)
            pos, neg = af.clamp_min(0), af.clamp_max(0)
            exact = dominated[:, None]
            const = torch.where(exact, torch.zeros_like(neg), neg * upper[:, None])
            total = total + const.reshape(n, k, -1).sum(-1)
            to_x = pos + torch.where(exact, neg, torch.zeros_like(neg))
            back = torch.zeros(n, k, c, hw, dtype=a.dtype, device=a.device).scatter_add(
                3, index[:, None].expand(n, k, c, -1), to_x
            )
            passed = [back.reshape(n, k, *lo.shape[1:])]
        else:
            passed = [a, a]
        for src, g in zip(node.inputs, passed, strict=True):
            acc[src] = acc[src] + g if src in acc else g
    return total


def _tighten(
    graph: Graph,
    idx: int,
    inputs: InputSet,
    bounds: dict[int, tuple[Tensor, Tensor]],
    box: tuple[Tensor, Tensor],
) -> tuple[Tensor, Tensor]:
    """CROWN bounds of node ``idx``'s output, intersected with its interval ``box``.

    Only neurons the interval leaves unstable in some sample are bounded again (a stable
    neuron's ReLU is already exact). The backward pass starts with one shared copy of the
    identity specification, which stays shared until the first ReLU, and runs in chunks.
    """
    lo, hi = box
    n = lo.shape[0]
    shape = graph.nodes[idx].shape
    flat_lo, flat_hi = lo.reshape(n, -1).clone(), hi.reshape(n, -1).clone()
    todo = ((flat_lo < 0) & (flat_hi > 0)).any(0).nonzero().squeeze(1)
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


def crown_bounds(graph: Graph, inputs: InputSet) -> dict[int, tuple[Tensor, Tensor]]:
    """CROWN bounds on the input of every ReLU (keyed by the ReLU's node index), and the
    interval bounds of every max-pooling node's input (keyed likewise).

    Intervals are propagated forward; at each ReLU the interval of its input is tightened
    by a backward pass that uses the bounds of earlier ReLUs (both bounds are sound, so
    their intersection is), and propagation continues from the tightened interval.
    """
    out: dict[int, tuple[Tensor, Tensor]] = {}
    boxes: list[tuple[Tensor, Tensor]] = []
    for i, node in enumerate(graph.nodes):
        if node.kind == "input":
            boxes.append((inputs.lower, inputs.upper))
        elif node.kind == "affine":
            assert node.op is not None
            lo, hi = boxes[node.inputs[0]]
            mid = node.op.forward((hi + lo) / 2)
            rad = node.op.abs_forward((hi - lo) / 2)
            boxes.append((mid - rad, mid + rad))
        elif node.kind == "relu":
            src = node.inputs[0]
            if graph.nodes[src].kind != "input":
                boxes[src] = _tighten(graph, src, inputs, out, boxes[src])
            out[i] = boxes[src]
            lo, hi = boxes[src]
            boxes.append((lo.clamp_min(0), hi.clamp_min(0)))
        elif node.kind == "maxpool":
            assert node.pool is not None
            out[i] = lo, hi = boxes[node.inputs[0]]
            boxes.append((node.pool.forward(lo), node.pool.forward(hi)))
        else:
            (la, ha), (lb, hb) = boxes[node.inputs[0]], boxes[node.inputs[1]]
            boxes.append((la + lb, ha + hb))
    return out
