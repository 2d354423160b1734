"""The branch-and-bound loop on one verification problem: attack, bound, branch, prune.

Problem solved: decide whether min over the box [lower, upper] of c_k·f(x) + d_k > 0 for
every row k (robustness: the margins z_y − z_j), completely for ReLU networks. The loop:

1. PGD on the smallest row; a point with a negative row (re-checked by a forward pass of
   the network) answers ``falsified``.
2. The root is bounded (CROWN bounds of every ReLU input, α-optimized final bound).
3. Repeatedly the subdomains with the worst bounds are taken as a batch, each split in
   two (a ReLU neuron, :func:`~advkit.certify.bab_split.split_relus`, or for inputs of at
   most ``input_split_dims`` coordinates an input coordinate,
   :func:`~advkit.certify.bab_split.split_inputs`), and the children are bounded together
   with optimized α and β (:func:`~advkit.certify.bab_bound.bound_domains`). A child whose
   rows are all positive is proved; the minimizer of each child's linear bound, and a
   short PGD from the worst ones, are checked for a counterexample.
4. A subdomain with every ReLU fixed is solved exactly as a linear program
   (:func:`~advkit.certify.bab_lp.solve_fixed`), so ReLU branching terminates.

The answer is ``certified`` when no subdomain is left, ``falsified`` with a re-checked
counterexample, and ``unknown`` at the wall-clock limit (or when a subdomain cannot be
decided), never a guess.

Example:
    >>> import torch
    >>> from advkit.certify.bab import BaB
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(),
    ...                           torch.nn.Linear(8, 1)).eval()
    >>> res = verify_box(net, torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 1, 1),
    ...                  torch.full((1, 1), 100.0), BaB(time_limit=5))
    >>> res.status
    'certified'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

from advkit.certify.bab_attack import Forward, margin_pgd, property_value, row_values
from advkit.certify.bab_bound import BoundConfig, bound_domains
from advkit.certify.bab_domains import (
    Domains,
    ReluLayout,
    clipped_bounds,
    property_bound,
    refined_bounds,
)
from advkit.certify.bab_lp import solve_fixed
from advkit.certify.bab_split import input_scores, relu_scores, split_inputs, split_relus
from advkit.certify.bounds import crown_bounds
from advkit.certify.box_set import BoxSet
from advkit.certify.graph import Graph, trace
from advkit.certify.ops import Box

if TYPE_CHECKING:
    from advkit.certify.bab import BaB

__all__ = ["BaBResult", "verify_box", "verify_graph"]

Status = Literal["certified", "falsified", "unknown"]


@dataclass(frozen=True, eq=False)
class BaBResult:
    """The answer of branch and bound on one problem.

    Attributes:
        status: "certified" (every row positive on the whole box), "falsified" (a
            re-checked counterexample) or "unknown" (time limit or undecided subdomain).
        lower: (K,) sound lower bounds of each row over the box.
        counterexample: the point (*input shape) when falsified, else None.
        domains: number of subdomains bounded.
        seconds: wall time.
    """

    status: Status
    lower: Tensor
    counterexample: Tensor | None
    domains: int
    seconds: float


class _Falsified(Exception):  # control flow: carries the counterexample out of the loop
    def __init__(self, point: Tensor) -> None:
        super().__init__("counterexample")
        self.point = point


@dataclass(eq=False)
class _Search:
    """The state of one branch-and-bound run."""

    graph: Graph
    forward: Forward
    spec: Tensor
    offset: Tensor
    lower: Tensor
    upper: Tensor
    method: BaB
    deadline: float
    any_row: bool
    layout: ReluLayout = field(init=False)
    input_mode: bool = field(init=False)
    pre: dict[int, Box] = field(default_factory=dict)
    root: Tensor = field(init=False)
    proved: Tensor = field(init=False)
    undecided: Tensor = field(init=False)
    visited: int = 0
    rounds: int = 0
    stuck: bool = False

    def __post_init__(self) -> None:
        self.layout = ReluLayout.of(self.graph)
        self.input_mode = self.lower[0].numel() <= self.method.input_split_dims
        k = self.spec.shape[1]
        inf = torch.full((k,), torch.inf, dtype=self.spec.dtype, device=self.spec.device)
        self.proved, self.undecided, self.root = inf, inf.clone(), -inf

    def check(self, points: Tensor) -> None:
        """Raise :class:`_Falsified` if a point (R, *input shape) has a negative row."""
        x = torch.minimum(torch.maximum(points, self.lower), self.upper)
        with torch.no_grad():
            rows = row_values(self.forward, x, self.spec, self.offset)
            worst = property_value(rows, self.any_row)
        i = int(worst.argmin())
        if bool(worst[i] < 0):
            raise _Falsified(x[i].detach().clone())

    def attack(self, starts: Tensor) -> None:
        """PGD over the whole box from ``starts``; raises on a counterexample."""
        x, v = margin_pgd(
            self.forward,
            self.lower,
            self.upper,
            self.spec,
            self.offset,
            starts,
            steps=self.method.attack_steps,
            deadline=self.deadline,
            any_row=self.any_row,
        )
        if bool(v < 0):
            self.check(x[None])

    def bound(self, kids: Domains) -> Domains:
        """Bound the children, check their minimizers; returns them with bounds and
        branching scores."""
        pre = self.pre
        if self.input_mode:
            pre = crown_bounds(self.graph, BoxSet(kids.lower, kids.upper))
        m = self.method
        config = BoundConfig(m.steps, m.lr_alpha, m.lr_beta, m.beta, m.refine)
        out = bound_domains(
            self.graph, self.layout, pre, kids, self.spec, self.offset, config, self.deadline
        )
        self.visited += len(kids)
        bound = torch.maximum(out.lower, kids.bound)
        open_rows = bound <= 0
        worst = property_bound(bound, self.any_row)
        if self.input_mode:
            scores = input_scores(kids, out.input_coefficients, open_rows)
        else:
            scores = relu_scores(self.layout, out.boxes, out.relu_coefficients, open_rows)
        self.check(out.point)
        order = worst.argsort()[: self.method.attack_restarts]
        if self.rounds % 4 == 0 and bool((worst[order] <= 0).any()):
            self.attack(out.point[order])
        return Domains(kids.lower, kids.upper, kids.splits, bound, scores)

    def prune(self, doms: Domains) -> Domains:
        """Record and drop the proved subdomains."""
        done = doms.worst(self.any_row) > 0
        if bool(done.any()):
            self.proved = torch.minimum(self.proved, doms.bound[done].amin(dim=0))
        return doms.take(~done)

    def finish(self, doms: Domains) -> None:
        """Decide subdomains with nothing left to split (a linear program each)."""
        for b in range(len(doms)):
            dom = doms.take(torch.tensor([b], device=doms.bound.device))
            if not self.layout.only_relu or self.input_mode:
                self.stuck = True
                self.undecided = torch.minimum(self.undecided, dom.bound[0])
                continue
            boxes = clipped_bounds(self.pre, self.layout, dom.splits, 1)
            if self.method.refine:
                box = BoxSet(dom.lower, dom.upper)
                boxes = refined_bounds(self.graph, self.layout, boxes, box)
            res = solve_fixed(
                self.graph, self.layout, boxes, dom.lower, dom.upper, dom.splits,
                self.spec, self.offset, any_row=self.any_row,
            )  # fmt: skip
            self.visited += 1
            if res.point is not None:
                self.check(res.point[None])
            low = torch.maximum(res.lower.to(dom.bound), dom.bound[0])
            if res.value > 0 or bool(property_bound(low[None], self.any_row) > 0):
                self.proved = torch.minimum(self.proved, low)
            else:  # the solver's multipliers fell short of a proof: never a guess
                self.stuck = True
                self.undecided = torch.minimum(self.undecided, low)

    def step(self, pool: Domains) -> Domains:
        """One round: split the worst subdomains, bound and prune the children."""
        self.rounds += 1
        order = pool.worst(self.any_row).argsort()
        half = max(1, self.method.batch // 2)
        picked, rest = pool.take(order[:half]), pool.take(order[half:])
        stuck = ~torch.isfinite(picked.scores).any(dim=1)
        if bool(stuck.any()):
            self.finish(picked.take(stuck))
            picked = picked.take(~stuck)
        if len(picked) == 0:
            return rest
        kids = split_inputs(picked) if self.input_mode else split_relus(picked)
        return Domains.cat([rest, self.prune(self.bound(kids))])

    def run(self) -> tuple[Status, Tensor, Domains | None]:
        """The loop; returns the status, the rows' lower bounds and the open pool."""
        gen = torch.Generator(device="cpu").manual_seed(0)
        r = self.method.attack_restarts
        noise = torch.rand(r, *self.lower.shape[1:], generator=gen).to(self.lower)
        self.attack(self.lower + noise * (self.upper - self.lower))
        self.pre = crown_bounds(self.graph, BoxSet(self.lower, self.upper))
        k = self.spec.shape[1]
        d = self.lower.device
        root = Domains(
            self.lower,
            self.upper,
            torch.zeros(1, self.layout.size, dtype=torch.int8, device=d),
            torch.full((1, k), -torch.inf, dtype=self.spec.dtype, device=d),
            torch.zeros(1, 0, dtype=self.spec.dtype, device=d),
        )
        pool = self.bound(root)
        self.root = pool.bound[0]
        pool = self.prune(pool)
        while len(pool) and time.perf_counter() < self.deadline:
            pool = self.step(pool)
        low = torch.minimum(self.proved, self.undecided)
        if len(pool):
            return "unknown", torch.minimum(low, pool.bound.amin(dim=0)), pool
        return ("unknown" if self.stuck else "certified"), low, None


def verify_graph(
    graph: Graph,
    forward: Forward,
    lower: Tensor,
    upper: Tensor,
    spec: Tensor,
    offset: Tensor,
    method: BaB,
    *,
    any_row: bool = False,
) -> BaBResult:
    """Branch and bound on a traced graph (see :func:`verify_box`).

    Args:
        graph: the traced network.
        forward: its forward pass (every counterexample is re-checked with it).
        lower, upper, spec, offset, method: as in :func:`verify_box`.
        any_row: the property holds where *some* row is positive (a VNN-LIB disjunct of
            several output constraints, violated only where every row is < 0); default:
            every row must be positive (robustness margins).
    """
    start = time.perf_counter()
    deadline = start + method.time_limit
    search = _Search(graph, forward, spec, offset, lower, upper, method, deadline, any_row)
    try:
        status, low, _ = search.run()
    except _Falsified as found:
        low = search.root
        return BaBResult("falsified", low, found.point, search.visited, time.perf_counter() - start)
    return BaBResult(status, low, None, search.visited, time.perf_counter() - start)


def verify_box(
    model: nn.Module,
    lower: Tensor,
    upper: Tensor,
    spec: Tensor,
    offset: Tensor,
    method: BaB,
    *,
    any_row: bool = False,
) -> BaBResult:
    """Decide whether c_k·f(x) + d_k > 0 for every row k and every x in the box (for
    some row k at every x, with ``any_row``).

    Args:
        model: a network :func:`~advkit.certify.graph.trace` accepts, in eval mode.
        lower, upper: (1, *input shape) the input box.
        spec: (1, K, *output shape) the rows' coefficients c_k.
        offset: (1, K) the rows' constants d_k.
        method: the branch-and-bound settings (:class:`~advkit.certify.bab.BaB`).
        any_row: see :func:`verify_graph`.
    """
    graph = trace(model, lower)
    return verify_graph(graph, graph.forward, lower, upper, spec, offset, method, any_row=any_row)
