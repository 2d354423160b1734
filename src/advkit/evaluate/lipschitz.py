"""A global Lipschitz upper bound of every logit margin f_i − f_j of a ReLU network.

Problem: |g(x) − g(x')| ≤ L‖x − x'‖_p for the margin g = f_i − f_j and *every* x, x'
turns the margin at one point into a certified radius g(x)/L (the guarantee of Hein &
Andriushchenko 2017 with a global constant in place of their local one). The network is
the graph advkit's certifiers trace (:func:`advkit.certify.graph.trace`): a chain of
affine maps (Linear, Conv2d, Flatten, BatchNorm, ...) separated by ReLUs, which are
1-Lipschitz in every ℓp. Any other operation (max pooling, residual additions, ...) is
refused.

The bound: the chain's affine segments are J_1, ReLU, J_2, ..., ReLU, J_m. The last one
is composed with e_i − e_j exactly (c_ij = J_mᵀ(e_i − e_j)); the middle ones contribute
their spectral norms ‖J_k‖₂, by power iteration on J_kᵀJ_k; the first its ‖J_1‖_{p→2}
(p = 2: spectral norm; p = ∞: √Σ_r ‖row_r‖₁², an upper bound). Then
L_ij ≤ ‖c_ij‖₂ · Π ‖J_k‖₂ · ‖J_1‖_{p→2}. For an affine network (no ReLU) the bound is
exact: L_ij = ‖J_1ᵀ(e_i − e_j)‖_q, q the dual norm of p.

Power iteration converges to ‖J‖₂ from below; it runs until the estimate changes by
less than 1e-7 (relative) and the result is raised by 1e-5 (relative) for what remains.

Example:
    >>> import torch
    >>> from advkit import L2
    >>> from advkit.evaluate.lipschitz import margin_lipschitz
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
    >>> margin_lipschitz(net, torch.zeros(1, 2), L2(1.0))[0, 1].item()  # ‖(3, −4)‖₂
    5.0
    >>> from advkit.evaluate.lipschitz import margin_radius
    >>> x = torch.tensor([[1.0, 0.5]])  # logits (3, 2): margin 1, L = 5
    >>> margin_radius(net, x, torch.tensor([0]), L2(1.0)).tolist()
    [0.2]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advkit.certify.graph import Graph, trace
from advkit.certify.ops import AffineOp
from advkit.threat import ThreatModel

__all__ = ["margin_lipschitz", "margin_radius", "spectral_norm"]

_TOL, _SLACK, _ITERATIONS = 1e-7, 1e-5, 500
Segment = list[AffineOp]


@torch.no_grad()
def margin_lipschitz(model: nn.Module, example: Tensor, threat: ThreatModel) -> Tensor:
    """(K, K) upper bounds L_ij of the Lipschitz constant of f_i − f_j in the threat's norm.

    Args:
        model: a chain of affine layers and ReLUs (what the certifiers trace).
        example: one input (1, ...) for tracing.
        threat: its norm (L∞ or L2) is the one of ‖x − x'‖; its ε is not used.

    Raises:
        TypeError: the model has an operation other than affine maps and ReLUs, or is
            not a chain.
        ValueError: the threat is not L∞ or L2.
    """
    if threat.name not in ("linf", "l2"):
        raise ValueError(f"the Lipschitz bound is for L∞ or L2 threats, not {threat.name}")
    segments = _segments(trace(model.eval(), example[:1]))
    last = segments[-1]
    k = math.prod(last[-1].out_shape)
    eye = torch.eye(k, dtype=last[-1].dtype, device=last[-1].device)
    pairs = (eye[:, None, :] - eye[None, :, :]).reshape(k * k, *last[-1].out_shape)
    c = _transpose(last, pairs)
    if len(segments) == 1:
        return threat.dual_norm(c).reshape(k, k).double()
    scale = _first_norm(segments[0], threat) * (1 + _SLACK)
    for seg in segments[1:-1]:
        scale *= spectral_norm(seg) * (1 + _SLACK)
    return (c.reshape(k * k, -1).double().norm(dim=1) * scale).reshape(k, k)


@torch.no_grad()
def margin_radius(model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel) -> Tensor:
    """(N,) certified radii min_j (f_y − f_j)(x) / L_yj (Hein & Andriushchenko 2017, with
    the global constants of :func:`margin_lipschitz`): no perturbation smaller changes
    the label. Zero for a misclassified sample; the box is ignored (it only helps).

    Applies where :func:`margin_lipschitz` does: chains of affine layers and ReLUs.
    """
    lip = margin_lipschitz(model, x[:1], threat)
    logits = model(x).double()
    margin = logits.gather(1, y[:, None]) - logits
    ratio = (margin / lip[y]).masked_fill(nn.functional.one_hot(y, lip.shape[0]).bool(), math.inf)
    return ratio.amin(dim=1).clamp_min(0.0)


def spectral_norm(segment: Segment) -> float:
    """‖J‖₂ of the composed linear part of ``segment``, by power iteration on JᵀJ."""
    shape = segment[0].in_shape
    g = torch.Generator().manual_seed(0)
    v = torch.randn(1, *shape, generator=g, device=g.device).to(segment[0].device, segment[0].dtype)
    v = v / v.norm()
    sigma = 0.0
    for _ in range(_ITERATIONS):
        w = _transpose(segment, _linear(segment, v))
        norm = float(w.norm())
        if norm == 0.0:
            return 0.0
        v, previous, sigma = w / norm, sigma, math.sqrt(norm)
        if abs(sigma - previous) <= _TOL * sigma:
            break
    return sigma


def _first_norm(segment: Segment, threat: ThreatModel) -> float:
    """‖J‖_{p→2}: the spectral norm for L2; √Σ_r ‖row_r‖₁² (≥ the exact value) for L∞."""
    if threat.name == "l2":
        return spectral_norm(segment)
    ones = torch.ones(1, *segment[0].in_shape, dtype=segment[0].dtype, device=segment[0].device)
    for op in segment:
        ones = op.forward_abs(ones)
    return float(ones.double().norm())


def _linear(segment: Segment, v: Tensor) -> Tensor:
    for op in segment:
        v = op.forward(v) - op.bias
    return v


def _transpose(segment: Segment, a: Tensor) -> Tensor:
    for op in reversed(segment):
        a = op.transpose(a)
    return a


def _segments(graph: Graph) -> list[Segment]:
    """The affine segments between ReLUs of a chain graph."""
    segments: list[Segment] = [[]]
    for i, node in enumerate(graph.nodes[1:], start=1):
        if node.inputs != [i - 1]:
            raise TypeError(
                f"node {node.name} does not take the previous node's output: the Lipschitz "
                "bound handles chains of affine layers and ReLUs only"
            )
        if node.kind == "relu":
            segments.append([])
        elif isinstance(node.op, AffineOp):
            segments[-1].append(node.op)
        else:
            raise TypeError(
                f"node {node.name} ({node.kind}) is not supported by the Lipschitz bound; "
                "it handles affine layers (Linear, Conv2d, Flatten, ...) and ReLUs only"
            )
    if any(not seg for seg in segments):
        raise TypeError("the Lipschitz bound needs an affine layer between ReLUs and at the end")
    return segments
