"""Exact verification of ReLU networks by mixed-integer linear programming.

Problem solved: the exact worst-case margin min_{x ∈ Δ(x0)} z_y(x) − z_j(x) over an L∞
or L1 ball ∩ box, and the exact minimal L∞ or L1 adversarial distance. Each unstable
ReLU z = relu(h) with pre-activation bounds l < 0 < u becomes the big-M encoding with a binary a:
z ≥ h, z ≥ 0, z ≤ u·a, z ≤ h − l(1 − a); stable ReLUs are fixed to 0 or to h (Tjeng,
Xiao & Tedrake 2019, "Evaluating robustness of neural networks with mixed integer
programming"). Bounds l, u come from CROWN, which also skips every class it already
certifies. The program is solved by HiGHS through :func:`scipy.optimize.milp`.

Outcomes per sample: proved robust (every remaining MILP has a positive optimum), a
counterexample (re-checked by a forward pass in :func:`advkit.certify`), or, when the time
limit hits, an honest "unknown" with the solver's proven dual bound as the lower bound.

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
from advkit.certify.bounds import InputSet, backward_bound, crown_bounds
from advkit.certify.graph import Graph, trace
from advkit.certify.task import CertOutput, CertTask, margin_spec
from advkit.threat import L1, Linf, ThreatModel

__all__ = ["MIP", "mip_min_distance"]


def _dense_jacobians(graph: Graph) -> dict[int, np.ndarray]:
    """J of every affine node as a dense (out, in) matrix."""
    out = {}
    for i, node in enumerate(graph.nodes):
        if node.kind == "affine":
            assert node.op is not None
            size = math.prod(node.shape)
            eye = torch.eye(size, dtype=torch.float64).reshape(size, *node.shape)
            rows = node.op.transpose(eye.float()).reshape(size, -1)
            out[i] = rows.detach().double().numpy()
    return out


class _Program:
    """The MILP of one sample: variables [x (D), t?, then (z, a) per unstable neuron]."""

    def __init__(
        self,
        graph: Graph,
        jac: dict[int, np.ndarray],
        relu_bounds: dict[int, tuple[np.ndarray, np.ndarray]],
        lower: np.ndarray,
        upper: np.ndarray,
        with_radius: bool,
        l1: tuple[np.ndarray, float] | None = None,
    ) -> None:
        d = lower.size
        self.d = d
        self.nv = d + (1 if with_radius else 0)
        self.lb = list(lower) + ([0.0] if with_radius else [])
        self.ub = list(upper) + ([np.inf] if with_radius else [])
        self.integer = [0] * self.nv
        self.rows: list[tuple[np.ndarray, float, float]] = []  # (coefficients, lo, hi)
        if l1 is not None:
            self._l1_ball(*l1, with_radius)
        exprs: list[tuple[np.ndarray, np.ndarray]] = []  # (M (size, nv_at_time), c)
        for i, node in enumerate(graph.nodes):
            if node.kind == "input":
                exprs.append((np.eye(d, self.nv), np.zeros(d)))
            elif node.kind == "affine":
                m, c = exprs[node.inputs[0]]
                assert node.op is not None
                j = jac[i]
                exprs.append((j @ m, j @ c + node.op.bias.detach().double().numpy().reshape(-1)))
            elif node.kind == "maxpool":
                raise TypeError(
                    "MIP does not encode max pooling; certify this model with CROWN, "
                    "AlphaCROWN or IBP"
                )
            elif node.kind == "add":
                (ma, ca), (mb, cb) = exprs[node.inputs[0]], exprs[node.inputs[1]]
                width = max(ma.shape[1], mb.shape[1])
                exprs.append((_pad(ma, width) + _pad(mb, width), ca + cb))
            else:
                m, c = exprs[node.inputs[0]]
                lo, hi = relu_bounds[i]
                new_m = np.zeros_like(m)
                new_c = np.zeros_like(c)
                active = lo >= 0
                new_m[active], new_c[active] = m[active], c[active]
                unstable = np.nonzero((lo < 0) & (hi > 0))[0]
                base = self.nv
                self.nv += 2 * unstable.size
                self.lb += [0.0, 0.0] * unstable.size
                self.ub += [v for q in unstable for v in (float(hi[q]), 1.0)]
                self.integer += [0, 1] * unstable.size
                new_m = _pad(new_m, self.nv)
                for r, q in enumerate(unstable):
                    zi, ai = base + 2 * r, base + 2 * r + 1
                    h = _pad(m[q : q + 1], self.nv)[0]
                    # h − z ≤ −c
                    row = h.copy()
                    row[zi] -= 1
                    self.rows.append((row, -np.inf, float(-c[q])))
                    # z − u·a ≤ 0
                    row = np.zeros(self.nv)
                    row[zi], row[ai] = 1.0, -hi[q]
                    self.rows.append((row, -np.inf, 0.0))
                    # z − h − l·a ≤ c − l
                    row = -h.copy()
                    row[zi], row[ai] = 1.0, -lo[q]
                    self.rows.append((row, -np.inf, float(c[q] - lo[q])))
                    new_m[q] = 0
                    new_m[q, zi] = 1.0
                exprs.append((new_m, new_c))
        self.out_m, self.out_c = exprs[-1]

    def _l1_ball(self, center: np.ndarray, eps: float, with_radius: bool) -> None:
        """‖x − center‖₁ ≤ eps (or ≤ t): u ≥ |x − center| per coordinate, Σ u ≤ budget."""
        d, base = self.d, self.nv
        self.nv += d
        self.lb += [0.0] * d
        self.ub += [np.inf] * d
        self.integer += [0] * d
        for q in range(d):
            for sign in (1.0, -1.0):  # ±(x_q − c_q) − u_q ≤ 0
                row = np.zeros(self.nv)
                row[q], row[base + q] = sign, -1.0
                self.rows.append((row, -np.inf, sign * float(center[q])))
        row = np.zeros(self.nv)
        row[base:] = 1.0
        if with_radius:  # the budget t, capped at eps (the bounds hold inside that ball)
            row[d] = -1.0
            self.ub[d] = float(eps)
        self.rows.append((row, -np.inf, 0.0 if with_radius else float(eps)))

    def solve(
        self, obj: np.ndarray, extra: list[tuple[np.ndarray, float, float]], seconds: float
    ) -> tuple[str, float, np.ndarray | None]:
        """Minimize obj·v; returns (status, proven lower bound, best solution or None).

        The lower bound is the solver's dual bound, never the primal value: a MILP
        "solved" within a relative gap has its true minimum anywhere in the gap, and a
        certificate must not rest on the primal side. The gap is asked to be zero.
        """
        coefs = [_pad(r[0][None], self.nv) for r in self.rows]
        coefs += [_pad(e[0][None], self.nv) for e in extra]
        lo = np.array([r[1] for r in self.rows] + [e[1] for e in extra])
        hi = np.array([r[2] for r in self.rows] + [e[2] for e in extra])
        cons = LinearConstraint(sparse.csr_matrix(np.concatenate(coefs)), lo, hi) if coefs else None
        res = milp(
            _pad(obj[None], self.nv)[0],
            constraints=cons,
            integrality=np.array(self.integer),
            bounds=Bounds(np.array(self.lb), np.array(self.ub)),
            options={"time_limit": max(seconds, 0.1), "disp": False, "mip_rel_gap": 0.0},
        )
        if res.status == 2:
            return "infeasible", math.inf, None
        bound = getattr(res, "mip_dual_bound", None)
        if res.status == 0:  # no dual bound means no binaries: an LP, solved exactly
            return "optimal", float(res.fun if bound is None else min(bound, res.fun)), res.x
        return "limit", -math.inf if bound is None else float(bound), res.x

    def output_row(self, coef: np.ndarray) -> tuple[np.ndarray, float]:
        """coef · logits as (row over variables, constant)."""
        return _pad((coef @ self.out_m)[None], self.nv)[0], float(coef @ self.out_c)


BOUND_SLACK = 1e-5
"""Relative widening of CROWN's float32 pre-activation bounds before they become big-M
constants: bounds that round inward would cut true points out of the MILP."""


def _padded_bounds(
    pre: dict[int, tuple[Tensor, Tensor]], s: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Sample ``s``'s ReLU input bounds in float64, each widened by BOUND_SLACK·(1 + |b|)."""
    out = {}
    for r, (lo, hi) in pre.items():
        lo64, hi64 = lo[s].reshape(-1).double().numpy(), hi[s].reshape(-1).double().numpy()
        out[r] = (
            lo64 - BOUND_SLACK * (1 + np.abs(lo64)),
            hi64 + BOUND_SLACK * (1 + np.abs(hi64)),
        )
    return out


def _pad(m: np.ndarray, width: int) -> np.ndarray:
    if m.shape[1] == width:
        return m
    return np.concatenate([m, np.zeros((m.shape[0], width - m.shape[1]))], axis=1)


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
        jac = _dense_jacobians(g)
        lower = crown.clone()
        x_adv = task.x.clone()
        for s in range(task.x.shape[0]):
            deadline = time.perf_counter() + self.time_limit
            rb = _padded_bounds(pre, s)
            prog = _Program(
                g,
                jac,
                rb,
                task.inputs.lower[s].reshape(-1).double().numpy(),
                task.inputs.upper[s].reshape(-1).double().numpy(),
                with_radius=False,
                l1=(task.x[s].reshape(-1).double().numpy(), float(eps[s]))
                if norm == "l1"
                else None,
            )
            order = torch.argsort(crown[s]).tolist()
            for j in order:
                if j == int(task.y[s]) or (crown[s, j] > 0 and not self.exact_margins):
                    continue
                obj, const = prog.output_row(spec[s, j].double().numpy())
                status, val, sol = prog.solve(obj, [], deadline - time.perf_counter())
                if status == "optimal":
                    lower[s, j] = val + const
                    if sol is not None and float(obj @ sol[: obj.size]) + const < 0:
                        x_adv[s] = torch.from_numpy(sol[: prog.d]).float().reshape(x_adv[s].shape)
                        if not self.exact_margins:
                            break
                elif status == "limit":
                    lower[s, j] = max(float(crown[s, j]), val + const)
                if time.perf_counter() > deadline:
                    break
        return CertOutput(lower, x_adv)


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
    k = logits.shape[1]
    spec = margin_spec(y, k)
    jac = _dense_jacobians(graph)
    dist = torch.full((x.shape[0],), math.inf)
    x_adv = x.clone()
    for s in range(x.shape[0]):
        if int(logits[s].argmax()) != int(y[s]):
            dist[s] = 0.0
            continue
        deadline = time.perf_counter() + time_limit
        rb = _padded_bounds(pre, s)
        prog = _Program(
            graph,
            jac,
            rb,
            inputs.lower[s].reshape(-1).double().numpy(),
            inputs.upper[s].reshape(-1).double().numpy(),
            with_radius=True,
            l1=(x[s].reshape(-1).double().numpy(), eps_max) if norm == "l1" else None,
        )
        x0 = x[s].reshape(-1).double().numpy()
        d = prog.d
        extra = []
        for q in range(d if norm == "linf" else 0):  # x_q − t ≤ x0_q and x_q + t ≥ x0_q
            row = np.zeros(d + 1)
            row[q], row[d] = 1.0, -1.0
            extra.append((row, -np.inf, x0[q]))
            row = np.zeros(d + 1)
            row[q], row[d] = 1.0, 1.0
            extra.append((row, x0[q], np.inf))
        obj = np.zeros(d + 1)
        obj[d] = 1.0
        best = math.inf
        for j in range(k):
            if j == int(y[s]):
                continue
            row, const = prog.output_row(spec[s, j].double().numpy())
            status, _, sol = prog.solve(
                obj, [*extra, (row, -np.inf, -const)], deadline - time.perf_counter()
            )
            if status == "optimal" and sol is not None and sol[d] < best:
                best = float(sol[d])
                x_adv[s] = torch.from_numpy(sol[:d]).float().reshape(x[s].shape)
            elif status == "limit":
                best = math.nan
                break
        dist[s] = best
    return dist, x_adv
