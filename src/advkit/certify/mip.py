"""Exact verification of ReLU networks by mixed-integer linear programming.

Problem solved: the exact worst-case margin min_{x ∈ Δ(x0)} z_y(x) − z_j(x) over an L∞
or L1 ball ∩ box, and the exact minimal L∞ or L1 adversarial distance. Each unstable
ReLU z = relu(h) with pre-activation bounds l < 0 < u becomes the big-M encoding with a binary a:
z ≥ h, z ≥ 0, z ≤ u·a, z ≤ h − l(1 − a); stable ReLUs are fixed to 0 or to h (Tjeng,
Xiao & Tedrake 2019, "Evaluating robustness of neural networks with mixed integer
programming"). Bounds l, u come from CROWN, which also skips every class it already
certifies. The program is solved by HiGHS through :func:`scipy.optimize.milp`.

Outcomes per sample: proved robust (every remaining MILP has a positive optimum), a
counterexample (re-checked by a forward pass here and in :func:`advkit.certify`), or, when
the time limit hits, an honest "unknown" with the solver's proven dual bound as the lower
bound.

Counterexamples are taken wherever they appear. HiGHS through :func:`scipy.optimize.milp`
accepts no warm start, so a candidate point (``certify(..., warm_start=x_adv)``, e.g. an
attack's best point) is checked by a forward pass first: if it already changes the label
the sample is answered from it without any solve (its margins keep CROWN's bounds). A
solve stopped by the time limit returns its incumbent, and an incumbent that changes the
label is kept as the counterexample instead of being discarded.

The L1 ball is linear too: auxiliary variables u ≥ |x − x0| (two rows per pixel) and
Σ u ≤ ε. L2 is refused: its ball is a second-order cone, so the problem would be a
mixed-integer SOCP, which HiGHS does not solve (CROWN and α-CROWN bound L2).

Defaults: ``time_limit=60`` seconds per sample. Threat models: L∞ and L1.

Example:
    >>> import torch, advkit
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 6),
    ...                           torch.nn.ReLU(), torch.nn.Linear(6, 3)).eval()
    >>> x = torch.rand(2, 4)
    >>> res = advkit.certify(net, x, net(x).argmax(1), advkit.Linf(0.05), advkit.MIP())
    >>> res.status()[0] in ("certified", "attacked")
    True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.certify.bounds import backward_bound, crown_bounds
from advkit.certify.graph import Graph, trace
from advkit.certify.input_set import InputSet
from advkit.certify.milp import Program, encode, pad
from advkit.certify.ops import Box, NpBox
from advkit.certify.task import CertOutput, CertTask, margin_spec
from advkit.threat import L1, Linf, ThreatModel

__all__ = ["BOUND_SLACK", "MIP", "mip_min_distance", "solve"]


def solve(
    program: Program,
    obj: np.ndarray,
    extra: list[tuple[np.ndarray, float, float]],
    seconds: float,
) -> tuple[str, float, np.ndarray | None]:
    """Minimize obj·v over ``program`` with ``extra`` rows, with HiGHS.

    Returns:
        ``(status, proven lower bound, best solution or None)``; status is "optimal",
        "infeasible" or "limit" (time limit: the bound is the solver's dual bound).

    The lower bound is the solver's dual bound, never the primal value: a MILP "solved"
    within a relative gap has its true minimum anywhere in the gap, and a certificate
    must not rest on the primal side. The gap is asked to be zero.
    """
    nv = program.nv
    coefs = [pad(r[0][None], nv) for r in program.rows]
    coefs += [pad(e[0][None], nv) for e in extra]
    lo = np.array([r[1] for r in program.rows] + [e[1] for e in extra])
    hi = np.array([r[2] for r in program.rows] + [e[2] for e in extra])
    cons = LinearConstraint(sparse.csr_matrix(np.concatenate(coefs)), lo, hi) if coefs else None
    res = milp(
        pad(obj[None], nv)[0],
        constraints=cons,
        integrality=np.array(program.integer),
        bounds=Bounds(np.array(program.lb), np.array(program.ub)),
        options={"time_limit": max(seconds, 0.1), "disp": False, "mip_rel_gap": 0.0},
    )
    if res.status == 2:
        return "infeasible", math.inf, None
    bound = getattr(res, "mip_dual_bound", None)
    if res.status == 0:  # no dual bound means no binaries: an LP, solved exactly
        return "optimal", float(res.fun if bound is None else min(bound, res.fun)), res.x
    return "limit", -math.inf if bound is None else float(bound), res.x


BOUND_SLACK = 1e-5
"""Relative widening of CROWN's float32 pre-activation bounds before they become big-M
constants: bounds that round inward would cut true points out of the MILP."""


def _padded_bounds(pre: dict[int, Box], s: int) -> dict[int, NpBox]:
    """Sample ``s``'s nonlinear-node input bounds in float64, each widened by
    BOUND_SLACK·(1 + |b|)."""
    out = {}
    for r, (lo, hi) in pre.items():
        lo64, hi64 = (
            lo[s].reshape(-1).cpu().double().numpy(),
            hi[s].reshape(-1).cpu().double().numpy(),
        )
        out[r] = (
            lo64 - BOUND_SLACK * (1 + np.abs(lo64)),
            hi64 + BOUND_SLACK * (1 + np.abs(hi64)),
        )
    return out


def _norm_of(threat: ThreatModel) -> str:
    if isinstance(threat, Linf):
        return "linf"
    if isinstance(threat, L1):
        return "l1"
    raise ValueError(
        f"MIP supports L∞ and L1 threats, not {type(threat).__name__}: an L2 ball makes the "
        "problem a mixed-integer second-order-cone program, which HiGHS does not solve; "
        "use CROWN or AlphaCROWN for L2"
    )


def _sample_program(
    graph: Graph,
    pre: dict[int, Box],
    inputs: InputSet,
    s: int,
    l1_eps: float | None,
    with_radius: bool,
) -> Program:
    """The program of sample ``s`` (with the L1 ball of radius ``l1_eps`` if given)."""
    return encode(
        graph,
        _padded_bounds(pre, s),
        inputs.lower[s].reshape(-1).cpu().double().numpy(),
        inputs.upper[s].reshape(-1).cpu().double().numpy(),
        with_radius=with_radius,
        l1=None if l1_eps is None else (inputs.x0[s].reshape(-1).cpu().double().numpy(), l1_eps),
    )


@dataclass(frozen=True)
class MIP:
    """Exact L∞ or L1 verification by MILP (HiGHS).

    Args:
        time_limit: seconds per sample over all its MILPs; past it the sample is
            "unknown" with the solver's dual bound.
        exact_margins: solve every class's MILP, so ``class_lower`` holds the exact
            minimum of every margin (default False: classes CROWN certifies are skipped
            and a sample stops at its first counterexample, which decides it sooner).
    """

    time_limit: float = 60.0
    exact_margins: bool = False

    name: ClassVar[str] = "mip"

    def __post_init__(self) -> None:
        if self.time_limit <= 0:
            raise ValueError(f"time_limit must be > 0, got {self.time_limit}")

    def run(self, task: CertTask) -> CertOutput:
        """Exact (or solver-bounded) margins (N, K) and counterexamples."""
        norm = _norm_of(task.threat)
        eps = task.threat.radius(task.x).reshape(task.x.shape[0], -1)[:, 0]
        g = task.graph
        pre = crown_bounds(g, task.inputs)
        spec = task.spec
        crown = backward_bound(g, len(g.nodes) - 1, spec, task.inputs, pre)
        lower = crown.clone()
        x_adv = task.x.clone()
        for s in range(task.x.shape[0]):
            check = _Checker(g, x_adv[s], spec[s], int(task.y[s]))
            if task.warm_start is not None and not self.exact_margins and check(task.warm_start[s]):
                x_adv[s] = task.warm_start[s]  # the warm start already changes the label
                continue
            deadline = time.perf_counter() + self.time_limit
            l1_eps = float(eps[s]) if norm == "l1" else None
            prog = _sample_program(g, pre, task.inputs, s, l1_eps, with_radius=False)
            sol = self._margins(prog, spec[s], check, crown[s], lower[s], deadline)
            if sol is not None:
                x_adv[s] = torch.from_numpy(sol[: prog.d]).to(x_adv).reshape(x_adv[s].shape)
        return CertOutput(lower, x_adv)

    def _margins(
        self,
        prog: Program,
        spec: Tensor,
        check: _Checker,
        crown: Tensor,
        lower: Tensor,
        deadline: float,
    ) -> np.ndarray | None:
        """Solve one sample's margins, writing their bounds into ``lower`` (K,); returns
        the last counterexample found (an optimum or a time-limited solve's incumbent,
        re-checked by a forward pass), or None."""
        found = None
        for j in torch.argsort(crown).tolist():
            if j == check.y or (crown[j] > 0 and not self.exact_margins):
                continue
            obj, const = prog.output_row(spec[j].cpu().double().numpy())
            status, val, sol = solve(prog, obj, [], deadline - time.perf_counter())
            if status == "optimal":
                lower[j] = val + const
            elif status == "limit":
                lower[j] = max(float(crown[j]), val + const)
            below = sol is not None and float(obj @ sol[: obj.size]) + const < 0
            if below and sol is not None and check(sol[: prog.d]):
                found = sol
                if not self.exact_margins:
                    break
            if time.perf_counter() > deadline:
                break
        return found


@dataclass(frozen=True, eq=False)
class _Checker:
    """Whether a point changes one sample's label, by a forward pass of the graph.

    Attributes:
        graph: the traced network; like: a tensor of the sample's shape and dtype.
        spec: the sample's margin coefficients (K, K); y: its label.
    """

    graph: Graph
    like: Tensor
    spec: Tensor
    y: int

    def __call__(self, point: Tensor | np.ndarray) -> bool:
        """True when some margin z_y − z_j (j ≠ y) is negative at ``point``."""
        x = torch.as_tensor(point, device=self.like.device).to(self.like)
        x = x.reshape(1, *self.like.shape)
        margins = self.spec @ self.graph.forward(x)[0]
        margins[self.y] = math.inf
        return bool((margins < 0).any())


def _radius_rows(x0: np.ndarray) -> list[tuple[np.ndarray, float, float]]:
    """‖x − x0‖∞ ≤ t as rows over [x (D), t]: x_q − t ≤ x0_q and x_q + t ≥ x0_q."""
    d = x0.size
    rows = []
    for q in range(d):
        row = np.zeros(d + 1)
        row[q], row[d] = 1.0, -1.0
        rows.append((row, -np.inf, x0[q]))
        row = np.zeros(d + 1)
        row[q], row[d] = 1.0, 1.0
        rows.append((row, x0[q], np.inf))
    return rows


def _min_radius(
    prog: Program,
    spec: Tensor,
    y: int,
    extra: list[tuple[np.ndarray, float, float]],
    deadline: float,
) -> tuple[float, np.ndarray | None]:
    """The smallest radius t at which some class j ≠ y reaches the top, and its point
    (inf and None when none does; NaN when the time limit hits)."""
    d = prog.d
    obj = np.zeros(d + 1)
    obj[d] = 1.0
    best, point = math.inf, None
    for j in range(spec.shape[0]):
        if j == y:
            continue
        row, const = prog.output_row(spec[j].cpu().double().numpy())
        status, _, sol = solve(
            prog, obj, [*extra, (row, -np.inf, -const)], deadline - time.perf_counter()
        )
        if status == "optimal" and sol is not None and sol[d] < best:
            best, point = float(sol[d]), sol[:d]
        elif status == "limit":
            return math.nan, point
    return best, point


def mip_min_distance(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps_max: float,
    *,
    time_limit: float = 60.0,
    norm: Literal["linf", "l1"] = "linf",
) -> tuple[Tensor, Tensor]:
    """The exact minimal L∞ (or L1) distance at which the label changes (≤ ``eps_max``).

    Minimizes t subject to ‖x' − x‖ ≤ t ≤ eps_max, x' ∈ [0, 1] and z_j(x') ≥ z_y(x'),
    over the classes j, with ReLU bounds from CROWN at ``eps_max``.

    Args:
        model: a ReLU classifier :func:`~advkit.certify.graph.trace` accepts.
        x: inputs (N, ...) in [0, 1]; y: labels (N,).
        eps_max: the largest radius searched.
        time_limit: seconds per sample.
        norm: ``"linf"`` (default) or ``"l1"`` (auxiliary variables u ≥ |x' − x|).

    Returns:
        ``(distance, x_adv)``: (N,) distances (``inf`` if robust up to ``eps_max``, NaN
        when the time limit hit first; 0 if already misclassified) and the (N, ...)
        minimizers (the clean input where there is none).
    """
    if norm not in ("linf", "l1"):
        raise ValueError(f"norm must be 'linf' or 'l1', got {norm!r}")
    with eval_mode(model), torch.no_grad():
        graph = trace(model, x)
        logits = model(x)
    threat: ThreatModel = Linf(eps_max) if norm == "linf" else L1(eps_max)
    inputs = InputSet(threat, x)
    with torch.no_grad():
        pre = crown_bounds(graph, inputs)
    spec = margin_spec(y, logits.shape[1], x.dtype)
    dist = torch.full((x.shape[0],), math.inf, device=x.device)
    x_adv = x.clone()
    for s in range(x.shape[0]):
        if int(logits[s].argmax()) != int(y[s]):
            dist[s] = 0.0
            continue
        deadline = time.perf_counter() + time_limit
        l1_eps = eps_max if norm == "l1" else None
        prog = _sample_program(graph, pre, inputs, s, l1_eps, with_radius=True)
        extra = _radius_rows(x[s].reshape(-1).cpu().double().numpy()) if norm == "linf" else []
        dist[s], point = _min_radius(prog, spec[s], int(y[s]), extra, deadline)
        if point is not None:
            x_adv[s] = torch.from_numpy(point).to(x_adv).reshape(x[s].shape)
    return dist, x_adv
