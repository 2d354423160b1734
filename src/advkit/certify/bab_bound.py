"""Bounds of a batch of subdomains: CROWN with optimized slopes (α) and split multipliers (β).

Problem solved: a lower bound of min c·f(x) + d over each subdomain S of branch and bound
(an input box and ReLU split decisions s_i·h_i(x) ≥ 0). Split neurons are exact in the
relaxation (their bounds are clipped, :func:`advkit.certify.bab_domains.clipped_bounds`),
but the constraints s_i·h_i(x) ≥ 0 themselves would be lost by the backward pass. β-CROWN
(Wang et al. 2021, "Beta-CROWN: efficient bound propagation with per-neuron split
constraints for neural network robustness verification") keeps them through Lagrange
multipliers: on S, c·f(x) ≥ c·f(x) − Σ β_i s_i h_i(x) for any β ≥ 0, so −β_i s_i is added
to the coefficients of h_i in the backward pass (the ``split_terms`` of
:class:`advkit.certify.bounds.Relaxations`). The bound is a function of β and of the lower
slopes α of unstable ReLUs (Xu et al. 2021); both are optimized by projected gradient
ascent (Adam, then β ≥ 0 and α ∈ [0, 1]) and the best bound seen per subdomain and row is
kept: every iterate is a valid bound.

Example:
    >>> import torch
    >>> from advkit.certify.bab_domains import Domains, ReluLayout
    >>> from advkit.certify.bounds import crown_bounds
    >>> from advkit.certify.graph import trace
    >>> from advkit.certify.input_set import InputSet
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(),
    ...                           torch.nn.Linear(4, 1)).eval()
    >>> g = trace(net, torch.zeros(1, 2))
    >>> lo, hi = torch.zeros(1, 2), torch.ones(1, 2)
    >>> pre = crown_bounds(g, BoxSet(lo, hi))
    >>> dom = Domains(lo, hi, torch.zeros(1, 4, dtype=torch.int8), torch.zeros(1, 1),
    ...               torch.zeros(1, 4))
    >>> with torch.no_grad():
    ...     out = bound_domains(g, ReluLayout.of(g), pre, dom, torch.ones(1, 1, 1),
    ...                         torch.zeros(1, 1), BoundConfig(steps=3))
    >>> out.lower.shape
    torch.Size([1, 1])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.certify.bab_domains import Domains, ReluLayout, clipped_bounds, refined_bounds
from advkit.certify.bounds import Relaxations, linear_pass
from advkit.certify.box_set import BoxSet
from advkit.certify.graph import Graph
from advkit.certify.input_set import InputSet, box_minimum
from advkit.certify.ops import Box

__all__ = ["BoundConfig", "DomainBounds", "bound_domains"]


@dataclass(frozen=True)
class BoundConfig:
    """How subdomains are bounded.

    Args:
        steps: projected gradient steps on α and β (0 gives CROWN with clipped bounds).
        lr_alpha: Adam learning rate of the slopes.
        lr_beta: Adam learning rate of the split multipliers.
        beta: optimize split multipliers (False: α only, splits only clip bounds).
        refine: re-bound the ReLU inputs after the first layer per subdomain, under its
            splits (:func:`~advkit.certify.bab_domains.refined_bounds`).
    """

    steps: int = 20
    lr_alpha: float = 0.1
    lr_beta: float = 0.05
    beta: bool = True
    refine: bool = True


@dataclass(frozen=True, eq=False)
class DomainBounds:
    """Bounds of a batch of B subdomains with K rows.

    Attributes:
        lower: (B, K) lower bounds of c_k·f(x) + d_k over each subdomain.
        point: (B, *input shape) the minimizer over the box of the final linear bound
            of each subdomain's worst row (a candidate counterexample).
        input_coefficients: (B, K, *input shape) the final linear bound's coefficients
            of x (zeros when no coefficient reaches the input).
        relu_coefficients: (B, K, *shape) the coefficients reaching each ReLU's output,
            by the ReLU node's index.
        boxes: the subdomains' bounds of every nonlinear node's input.
    """

    lower: Tensor
    point: Tensor
    input_coefficients: Tensor
    relu_coefficients: dict[int, Tensor]
    boxes: dict[int, Box]


@dataclass(eq=False)
class _Pass:
    """One subdomain batch's fixed data and optimizable parameters."""

    graph: Graph
    inputs: InputSet
    boxes: dict[int, Box]
    spec: Tensor
    offset: Tensor
    slopes: dict[int, Tensor]
    signs: dict[int, Tensor]
    betas: dict[int, Tensor]

    def value(self, record: dict[int, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Lower bounds (B, K) and the input coefficients (B, K, *input shape)."""
        terms = {i: -self.betas[i] * self.signs[i] for i in self.betas}
        relax = Relaxations(self.inputs, self.boxes, self.slopes, terms, record)
        total, a = linear_pass(self.graph, len(self.graph.nodes) - 1, self.spec, relax)
        lower = self.inputs.lower
        b = lower.shape[0]
        if a is None:
            a = torch.zeros_like(lower[:, None]).expand(b, self.spec.shape[1], *lower.shape[1:])
        a = a.expand(b, *a.shape[1:])
        return total + box_minimum(a, lower, self.inputs.upper) + self.offset, a


def _make_pass(
    graph: Graph,
    layout: ReluLayout,
    pre: dict[int, Box],
    domains: Domains,
    spec: Tensor,
    offset: Tensor,
    config: BoundConfig,
) -> _Pass:
    b, k = len(domains), spec.shape[1]
    inputs = BoxSet(domains.lower, domains.upper)
    boxes = clipped_bounds(pre, layout, domains.splits, b)
    if config.refine and bool((domains.splits != 0).any()):
        boxes = refined_bounds(graph, layout, boxes, inputs)
    slopes, signs, betas = {}, {}, {}
    for layer in layout.layers:
        a0 = graph.nodes[layer.node].op.lower_slopes(boxes[layer.node])
        assert a0 is not None
        slopes[layer.node] = a0[:, None].expand(-1, k, *a0.shape[1:]).clone()
        s = layer.part(domains.splits)
        if config.beta and bool((s != 0).any()):
            signs[layer.node] = s[:, None].to(a0.dtype)
            betas[layer.node] = torch.zeros_like(slopes[layer.node])
    return _Pass(graph, inputs, boxes, spec, offset.expand(b, k), slopes, signs, betas)


class _Adam:
    """Adam ascent steps on a few tensors (Kingma & Ba 2015), without torch.optim (whose
    first use imports the compiler stack, seconds that would count against the time
    limit)."""

    def __init__(self, groups: list[tuple[list[Tensor], float]]) -> None:
        self.groups = groups
        self.moments = [
            [(torch.zeros_like(t), torch.zeros_like(t)) for t in ts] for ts, _ in groups
        ]
        self.t = 0

    def ascend(self, grads: list[list[Tensor | None]]) -> None:
        """One step up the gradients ``grads`` (None: no gradient), one list per group."""
        self.t += 1
        c1, c2 = 1 - 0.9**self.t, 1 - 0.999**self.t
        for (ts, lr), moments, gs in zip(self.groups, self.moments, grads, strict=True):
            for p, (m, v), g in zip(ts, moments, gs, strict=True):
                if g is None:
                    continue
                m.mul_(0.9).add_(g, alpha=0.1)
                v.mul_(0.999).addcmul_(g, g, value=0.001)
                p.add_(lr * (m / c1) / ((v / c2).sqrt() + 1e-8))


def _optimize(p: _Pass, config: BoundConfig, deadline: float) -> Tensor:
    """Projected Adam ascent on α and β; returns the best bound seen (B, K)."""
    with torch.no_grad():
        best = p.value()[0]
    alphas, betas = list(p.slopes.values()), list(p.betas.values())
    if config.steps == 0 or not alphas or bool((best > 0).all()):
        return best
    adam = _Adam([(alphas, config.lr_alpha), (betas, config.lr_beta)])
    for t in (*alphas, *betas):
        t.requires_grad_(True)
    for _ in range(config.steps):
        with torch.enable_grad():
            val = p.value()[0]
            # autograd.grad, not backward(): the model's .grad must stay untouched
            grads = torch.autograd.grad(val.sum(), [*alphas, *betas], allow_unused=True)
        best = torch.maximum(best, val.detach())
        if bool((best > 0).all()) or time.perf_counter() > deadline:
            break
        with torch.no_grad():
            adam.ascend([list(grads[: len(alphas)]), list(grads[len(alphas) :])])
            for s in alphas:
                s.clamp_(0, 1)
            for b in betas:
                b.clamp_(min=0)
    for t in (*alphas, *betas):
        t.requires_grad_(False)
    return best


def bound_domains(
    graph: Graph,
    layout: ReluLayout,
    pre: dict[int, Box],
    domains: Domains,
    spec: Tensor,
    offset: Tensor,
    config: BoundConfig,
    deadline: float = math.inf,
) -> DomainBounds:
    """Bound every subdomain of ``domains``.

    Args:
        graph: the traced network.
        layout: its ReLU layout.
        pre: interval bounds of each nonlinear node's input, (1 or B, *shape), valid on
            each subdomain's box (before its splits).
        domains: the B subdomains.
        spec: (1, K, *output shape) the rows' coefficients c_k.
        offset: (1, K) the rows' constants d_k.
        config: optimization settings.
        deadline: a ``time.perf_counter()`` value that stops the optimization early
            (the best bound so far is still valid).
    """
    p = _make_pass(graph, layout, pre, domains, spec, offset, config)
    best = _optimize(p, config, deadline)
    record: dict[int, Tensor] = {}
    with torch.no_grad():
        val, a = p.value(record)
        best = torch.maximum(best, val)
        worst = best.argmin(dim=1)
        aw = a[torch.arange(len(domains)), worst]
        point = torch.where(aw >= 0, domains.lower, domains.upper)
    relu = {layer.node: record[layer.node] for layer in layout.layers if layer.node in record}
    return DomainBounds(best, point, a, relu, p.boxes)
