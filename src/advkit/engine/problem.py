"""The problem an attack solves: one call's inputs, restricted to some rows of the batch.

Attacks receive a :class:`Problem` from :func:`advkit.attack` and never see the caller's
tensors. Restricting a problem to a subset of its rows (``subset``) keeps each row's
position in the caller's batch (``rows``, for the per-sample counters) and its global key
(``keys``, for its random streams), so a sample's result does not depend on its batch.

Example:
    >>> import torch
    >>> from advkit.access import WhiteBox
    >>> from advkit.engine import Problem
    >>> from advkit.threat import Linf
    >>> oracle = WhiteBox(torch.nn.Linear(4, 3)).fresh(3)
    >>> p = Problem(oracle, torch.rand(3, 4), torch.tensor([0, 1, 2]), None, Linf(0.1),
    ...             torch.arange(3), torch.tensor([10, 11, 12]), seed=0)
    >>> p.subset(torch.tensor([2])).keys.tolist()
    [12]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import torch
from torch import Tensor

from advkit.access import Oracle, ScoreOnly, WhiteBox
from advkit.engine.rng import generators, stream
from advkit.objectives import Objective, is_successful
from advkit.threat import Bounds, ThreatModel

__all__ = ["Problem"]


@dataclass(frozen=True, eq=False)
class Problem:
    """One attack call's inputs, restricted to some rows of the caller's batch.

    Attributes:
        oracle: the access to the model, with counters over the caller's whole batch.
        x0: clean inputs of these rows, in the working precision: float32 (float64 for
            float64 inputs) whatever the caller's and the model's dtypes; the oracle casts
            what it evaluates to the model's dtype and returns logits in at least float32.
        y: true labels.
        target: target labels, or None when the goal is misclassification.
        threat: the threat model (per-sample ε already restricted to these rows).
        rows: positions of these samples in the caller's batch (for the counters).
        keys: global sample keys (dataset indices) for the random streams.
        seed: the run's seed.
    """

    oracle: Oracle
    x0: Tensor
    y: Tensor
    target: Tensor | None
    threat: ThreatModel
    rows: Tensor
    keys: Tensor
    seed: int

    def __len__(self) -> int:
        return self.x0.shape[0]

    @property
    def white_box(self) -> WhiteBox:
        """The oracle, checked to give gradients."""
        if not isinstance(self.oracle, WhiteBox):
            raise TypeError("this attack step needs white-box access")
        return self.oracle

    @property
    def score_oracle(self) -> ScoreOnly:
        """The oracle, checked to give scores."""
        if not isinstance(self.oracle, ScoreOnly):
            raise TypeError("this attack step needs score access")
        return self.oracle

    def subset(self, local: Tensor) -> Problem:
        """The problem restricted to positions ``local`` of this problem (this problem
        itself, with what it computed once, when ``local`` keeps every row in order)."""
        if local.numel() == len(self) and bool(
            (local == torch.arange(len(self), device=local.device)).all()
        ):
            return self
        return replace(
            self,
            x0=self.x0[local],
            y=self.y[local],
            target=None if self.target is None else self.target[local],
            threat=self.threat.select(local),
            rows=self.rows[local],
            keys=self.keys[local],
        )

    def with_oracle(self, oracle: Oracle) -> Problem:
        """The same problem seen through another oracle (a view of the same counters)."""
        return replace(self, oracle=oracle)

    def generators(self, name: str, *index: int) -> list[torch.Generator]:
        """One generator per row for the named stream, seeded by (seed, key, name, index)."""
        return generators(self.seed, self.keys, stream(name, *index))

    def logits(self, x: Tensor) -> Tensor:
        """White-box logits at x (one row per sample of this problem), without a graph."""
        return self.white_box.logits(x, self.rows)

    def value_and_grad(
        self,
        x: Tensor,
        objective: Objective,
        target: Tensor | None,
        wanted: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits, loss and input gradient at x (one row per sample of this problem);
        ``wanted`` (optional) picks from the logits the rows whose gradient is computed
        and counted (zero elsewhere), as :meth:`advkit.access.WhiteBox.value_and_grad`.
        It is passed on only when given, so an oracle overriding ``value_and_grad`` with
        the five-argument signature keeps working for every attack that does not ask."""
        args = (x, self.y, target, objective, self.rows)
        if wanted is None:
            return self.white_box.value_and_grad(*args)
        return self.white_box.value_and_grad(*args, wanted)

    def clean_value_and_grad(self, objective: Objective) -> tuple[Tensor, Tensor, Tensor]:
        """Logits and loss at x0 for every row, with the input gradient of the rows whose
        clean point misses the goal (zero elsewhere; only those count as gradient calls):
        the clean check and the first gradient of an attack starting at x0, in one
        forward pass."""
        return self.value_and_grad(self.x0, objective, self.target, lambda z: ~self.successful(z))

    @cached_property
    def bounds(self) -> Bounds:
        """The threat's :meth:`~advkit.threat.ThreatModel.bounds` of x0, computed once per
        problem (a compacted problem computes its own)."""
        return self.threat.bounds(self.x0)

    def project(self, x: Tensor) -> Tensor:
        """x projected onto the threat's ball around x0 intersected with the box: as
        ``threat.project(x, x0)``, bit for bit, without recomputing x0's bounds."""
        return self.threat.project_within(x, self.x0, self.bounds)

    def successful(self, logits: Tensor) -> Tensor:
        """(N,) bool: the goal (misclassification or the target) is met by these logits."""
        return is_successful(logits, self.y, self.target)

    def within_cap(self, x: Tensor) -> Tensor:
        """(N,) bool: x lies within the threat's ε of x0 in its norm (a minimal attack's cap;
        always true for ε = inf)."""
        eps = self.threat.radius(self.x0).reshape(-1)
        return self.threat.norm(x - self.x0) <= eps * (1 + 1e-6) + 1e-7
