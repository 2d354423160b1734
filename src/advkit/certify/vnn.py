"""Complete verification of VNN-LIB properties: attack, bounds, exact MIP, under a timeout.

Problem solved: answer a VNN-COMP instance (an ONNX network, a VNN-LIB property, a
timeout) with ``sat`` and a counterexample, ``unsat``, or an honest ``unknown`` /
``timeout``, never a guess. :class:`Verifier` runs its stages (see
:mod:`advkit.certify.vnn_stages`) on each disjunct of the property in turn: a stage's
``sat`` counts only after the float32 re-check (:meth:`~advkit.certify.vnn_network.
VnnNetwork.check`), a disjunct is done once a stage proves it ``unsat``, and the property
is ``unsat`` when every disjunct is. The stages are a tuple, so another method (branch
and bound) is one more callable in it.

Defaults: PGD (50 steps, 8 restarts), α-CROWN, branch and bound with optimized α/β bounds
until the deadline, MIP on networks with at most 400 unstable ReLUs.

Example:
    >>> import torch
    >>> from advkit.certify.vnn import Verifier
    >>> from advkit.certify.vnn_network import VnnNetwork
    >>> from advkit.certify.vnnlib import parse_vnnlib
    >>> net = VnnNetwork.of(torch.nn.Sequential(torch.nn.Linear(1, 1)).eval(), (1,))
    >>> with torch.no_grad():
    ...     _ = net.model[0].weight.fill_(1.0), net.model[0].bias.fill_(0.0)
    >>> prop = parse_vnnlib('''(declare-const X_0 Real) (declare-const Y_0 Real)
    ...     (assert (>= X_0 0)) (assert (<= X_0 1)) (assert (<= Y_0 -0.5))''')
    >>> Verifier().verify(net, prop, timeout=10).status
    'unsat'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from advkit.certify.vnn_network import VnnNetwork, load_network
from advkit.certify.vnn_property import Disjunct, Property
from advkit.certify.vnn_result import VnnResult
from advkit.certify.vnn_stages import (
    AttackStage,
    BabStage,
    BoundStage,
    MipStage,
    Stage,
    StageResult,
    Subproblem,
)
from advkit.certify.vnnlib import read_vnnlib

__all__ = ["DEFAULT_STAGES", "Verifier", "verify_files"]

DEFAULT_STAGES: tuple[Stage, ...] = (AttackStage(), BoundStage(), BabStage(), MipStage())
"""Attack, α-CROWN, branch and bound (until the deadline), then MIP on small networks when
branch and bound stops undecided before it."""


@dataclass(frozen=True)
class Verifier:
    """Runs ``stages`` on every disjunct of a property.

    Args:
        stages: the methods, cheapest first (see :mod:`advkit.certify.vnn_stages`).
    """

    stages: tuple[Stage, ...] = field(default_factory=lambda: DEFAULT_STAGES)

    def verify(self, network: VnnNetwork, prop: Property, timeout: float) -> VnnResult:
        """Verify ``prop`` on ``network`` within ``timeout`` seconds.

        Raises:
            ValueError: the property's input or output size is not the network's, or the
                timeout is not positive.
        """
        if not timeout > 0:
            raise ValueError(f"the timeout must be > 0 seconds, got {timeout}")
        prop.check_network(network.input_shape, network.num_outputs)
        start = time.perf_counter()
        open_ = [Subproblem(network, part, start + timeout) for part in prop.disjuncts]
        closed_by = ""
        for stage in self.stages:
            still_open = []
            for sub in open_:
                if sub.seconds_left() <= 0:
                    return VnnResult("timeout", time.perf_counter() - start)
                res = stage(sub)
                found = self._checked(sub, res)
                if found is not None:
                    return VnnResult("sat", time.perf_counter() - start, *found, stage=stage.name)
                if res.verdict == "unsat":
                    closed_by = stage.name
                else:
                    hint = sub.hint if res.point is None else res.point
                    still_open.append(replace(sub, hint=hint))
            open_ = still_open
        seconds = time.perf_counter() - start
        if not open_:
            return VnnResult("unsat", seconds, stage=closed_by)
        return VnnResult("timeout" if seconds >= timeout else "unknown", seconds)

    @staticmethod
    def _checked(sub: Subproblem, res: StageResult) -> tuple[np.ndarray, np.ndarray] | None:
        """The re-checked counterexample of a ``sat`` stage result, else None."""
        if res.verdict != "sat" or res.point is None:
            return None
        return sub.network.check(sub.part, res.point)


def _box(prop: Property) -> tuple[float, float]:
    """The smallest interval holding every disjunct's box (for the conversion check)."""
    parts: tuple[Disjunct, ...] = prop.disjuncts
    if not parts:
        return 0.0, 1.0
    return min(float(p.lower.min()) for p in parts), max(float(p.upper.max()) for p in parts)


def verify_files(
    model: str | Path, prop: str | Path, timeout: float, verifier: Verifier | None = None
) -> VnnResult:
    """Verify the VNN-LIB property file ``prop`` on the ONNX network ``model``.

    The timeout covers the verification, not the loading of the files.

    Raises:
        advkit.certify.vnnlib.VnnlibError: the property is outside the supported subset.
        advkit.models.onnx_builder.OnnxImportError: an unsupported ONNX operator (named).
        TypeError: an operation the certifiers do not support (named).
        ValueError: the property's sizes do not match the network's.
    """
    parsed = read_vnnlib(prop)
    network = load_network(model, _box(parsed))
    return (verifier or Verifier()).verify(network, parsed, timeout)
