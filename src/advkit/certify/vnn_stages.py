"""The stages of a verification run: attack, incomplete bounds, exact MIP.

Problem solved: a complete verifier runs cheap methods first and exact ones last, and new
methods (branch and bound) must slot in between without touching the driver. A stage is
any callable taking a :class:`Subproblem` (one disjunct of the property on the network,
with the deadline and the best point found so far) and returning a :class:`StageResult`:
``sat`` with a candidate counterexample (the driver re-checks it by a float32 forward
pass), ``unsat`` (the disjunct has no counterexample: only a sound proof may say so), or
``unknown`` with an optional hint point for later stages.

- :class:`AttackStage`: PGD on the violation margin (:class:`~advkit.certify.vnn_attack.
  MarginPGD`).
- :class:`BoundStage`: a certifier (α-CROWN by default) with the disjunct's rows as the
  specification; ``unsat`` when some row's lower bound is positive.
- :class:`BabStage`: branch and bound (:class:`~advkit.certify.bab.BaB`: batched ReLU or
  input splits with optimized α/β bounds and an exact LP on fully split subdomains) on the
  disjunct, within the time left: ``unsat`` when some row is proved positive on the whole
  box, ``sat`` with its re-checked counterexample.
- :class:`MipStage`: the exact MILP (Tjeng et al. 2019) of min_x max_k c_k·f(x) + d_k over
  the box, on networks with few unstable ReLUs: a positive proven lower bound (the
  solver's dual bound, also when the time limit stops it) means ``unsat``; a solution with
  a value ≤ 0, even one a time-limited solve returns, is a candidate. SciPy's HiGHS
  interface takes no start point, so the attack's best point is not passed as an
  incumbent.

Example:
    >>> from advkit.certify.vnn_stages import AttackStage, BabStage, BoundStage, MipStage
    >>> stages = (AttackStage(), BoundStage(), BabStage(), MipStage())
    >>> [s.name for s in stages]
    ['attack', 'alpha-crown', 'bab', 'mip']
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from advkit.certify.alpha_crown import AlphaCROWN
from advkit.certify.bab import BaB
from advkit.certify.bab_search import verify_graph
from advkit.certify.bounds import crown_bounds
from advkit.certify.box_set import BoxSet
from advkit.certify.milp import encode
from advkit.certify.mip import _padded_bounds, solve
from advkit.certify.run import Certifier
from advkit.certify.task import CertTask
from advkit.certify.vnn_attack import MarginPGD
from advkit.certify.vnn_network import VnnNetwork
from advkit.certify.vnn_property import Disjunct

__all__ = [
    "AttackStage",
    "BabStage",
    "BoundStage",
    "MipStage",
    "Stage",
    "StageResult",
    "Subproblem",
]

Verdict = Literal["sat", "unsat", "unknown"]


@dataclass(frozen=True, eq=False)
class Subproblem:
    """One disjunct of a property on a network.

    Attributes:
        network: the network.
        part: the disjunct (box and output rows).
        deadline: ``time.perf_counter()`` value past which stages should stop.
        hint: the best point (D,) earlier stages found, or None.
    """

    network: VnnNetwork
    part: Disjunct
    deadline: float
    hint: np.ndarray | None = None

    def seconds_left(self) -> float:
        """Seconds until the deadline (≤ 0 once it passed)."""
        return self.deadline - time.perf_counter()

    def inputs(self) -> BoxSet:
        """The disjunct's box as a float64 input set of one sample."""
        shape = (1, *self.network.input_shape)
        lower = torch.from_numpy(self.part.lower).reshape(shape)
        return BoxSet(lower, torch.from_numpy(self.part.upper).reshape(shape))


@dataclass(frozen=True, eq=False)
class StageResult:
    """What a stage concluded: a verdict and a point (a candidate counterexample for
    ``sat``; an optional hint for ``unknown``)."""

    verdict: Verdict
    point: np.ndarray | None = None


class Stage(Protocol):
    """One method of the verification run (see the module docstring)."""

    @property
    def name(self) -> str:
        """The stage's name in results."""

    def __call__(self, sub: Subproblem) -> StageResult: ...


@dataclass(frozen=True)
class AttackStage:
    """PGD on the violation margin; ``sat`` when it reaches a margin ≤ 0."""

    attack: MarginPGD = field(default_factory=MarginPGD)
    name: str = "attack"

    def __call__(self, sub: Subproblem) -> StageResult:
        """Attack the disjunct until its deadline."""
        x, margin = self.attack.run(sub.network, sub.part, sub.deadline)
        return StageResult("sat" if margin <= 0 else "unknown", x)


@dataclass(frozen=True, eq=False)
class SpecTask(CertTask):
    """A certification task whose specification is given rows, not label margins."""

    objective: Tensor = field(kw_only=True)

    @property
    def spec(self) -> Tensor:
        """The rows (1, R, *output shape)."""
        return self.objective


@dataclass(frozen=True)
class BoundStage:
    """Lower-bound every row c_k·f(x) + d_k over the box with a certifier.

    Args:
        method: a bounding certifier of :mod:`advkit.certify` (``AlphaCROWN()``,
            ``CROWN()``, ``IBP()``).
    """

    method: Certifier = field(default_factory=AlphaCROWN)

    @property
    def name(self) -> str:
        """The certifier's name."""
        return self.method.name

    def __call__(self, sub: Subproblem) -> StageResult:
        """``unsat`` when some row is positive on the whole box."""
        part, net = sub.part, sub.network
        if part.c.shape[0] == 0:
            return StageResult("unknown", sub.hint)
        inputs = sub.inputs()
        rows = torch.from_numpy(part.c).reshape(1, part.c.shape[0], *net.graph.nodes[-1].shape)
        method = self.method
        if isinstance(method, AlphaCROWN):  # its optimization stops at the deadline
            method = replace(method, time_limit=max(sub.seconds_left(), 0.0))
        task = SpecTask(
            net.model, net.graph, inputs.x0, torch.zeros(1, dtype=torch.long),
            inputs.threat, inputs, net.num_outputs, objective=rows,
        )  # fmt: skip
        with torch.no_grad():
            lower = method.run(task).class_lower[0].double() + torch.from_numpy(part.d)
        return StageResult("unsat" if bool((lower > 0).any()) else "unknown", sub.hint)


@dataclass(frozen=True)
class BabStage:
    """Branch and bound on the disjunct within the time left (``method.time_limit`` at most).

    Args:
        method: the branch-and-bound settings.
    """

    method: BaB = field(default_factory=lambda: BaB(time_limit=math.inf))
    name: str = "bab"

    def __call__(self, sub: Subproblem) -> StageResult:
        """``unsat`` when some row is proved positive everywhere; ``sat`` with a point."""
        part, graph = sub.part, sub.network.graph
        left = min(self.method.time_limit, sub.seconds_left())
        if part.c.shape[0] == 0 or left <= 0:
            return StageResult("unknown", sub.hint)
        box = sub.inputs()
        spec = torch.from_numpy(part.c).reshape(1, part.c.shape[0], *graph.nodes[-1].shape)
        offset = torch.from_numpy(part.d).reshape(1, -1)
        method = replace(self.method, time_limit=left)
        res = verify_graph(
            graph, graph.forward, box.lower, box.upper, spec, offset, method, any_row=True
        )
        if res.status == "certified":
            return StageResult("unsat")
        if res.counterexample is not None:
            return StageResult("sat", res.counterexample.reshape(-1).double().numpy())
        return StageResult("unknown", sub.hint)


@dataclass(frozen=True)
class MipStage:
    """Exact MILP on networks with at most ``max_unstable`` unstable ReLU inputs (and
    operators that all have MILP encodings; otherwise ``unknown``).

    Args:
        max_unstable: the largest number of neurons whose CROWN bounds straddle 0 (each
            becomes a binary variable) for which the MILP is attempted.
    """

    max_unstable: int = 400
    name: str = "mip"

    def __call__(self, sub: Subproblem) -> StageResult:
        """``unsat`` when the MILP's proven bound is positive; a solution ≤ 0 is a candidate."""
        graph, part = sub.network.graph, sub.part
        inputs = sub.inputs()
        with torch.no_grad():
            pre = crown_bounds(graph, inputs)
        unstable = sum(int(((lo < 0) & (hi > 0)).sum()) for lo, hi in pre.values())
        if unstable > self.max_unstable or sub.seconds_left() <= 0:
            return StageResult("unknown", sub.hint)
        try:
            prog = encode(graph, _padded_bounds(pre, 0), part.lower, part.upper)
        except TypeError:  # an operator without a MILP encoding (max pooling)
            return StageResult("unknown", sub.hint)
        t = prog.add_variables([-np.inf], [np.inf], [0])
        for coef, const in zip(part.c, part.d, strict=True):
            row, offset = prog.output_row(coef)
            row[t] = -1.0
            prog.add_row(row, -np.inf, -(offset + float(const)))
        obj = np.zeros(prog.nv)
        obj[t] = 1.0
        status, bound, sol = solve(prog, obj, [], sub.seconds_left())
        if status == "infeasible" or bound > 0:
            return StageResult("unsat")
        if sol is not None and sol[t] <= 0:
            return StageResult("sat", sol[: prog.d])
        return StageResult("unknown", sub.hint)
