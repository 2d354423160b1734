"""The oracle base: a model, per-sample counters and budget, and the views it is seen through.

An oracle counts, for each sample of the attacked batch, every row it evaluated for that
sample (a batch of 2B+1 evaluations for one image counts 2B+1) and every gradient it
computed. :meth:`Oracle.through` gives the same access seen through a view
(:mod:`advkit.access.views`), sharing the counters: a query through a view is a query of
the caller.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import ClassVar, Self

import torch
from torch import Tensor, nn

from advkit.access.evaluation_mode import eval_mode
from advkit.access.output import check_logits, refuse_probabilities
from advkit.access.precision import call_model
from advkit.access.views import View

__all__ = [
    "LABELS",
    "SCORES",
    "WHITE_BOX",
    "Access",
    "AccessError",
    "Oracle",
    "QueryBudgetExceeded",
]


class Access(IntEnum):
    """Access levels, ordered: a richer oracle serves an attack that needs less."""

    LABELS = 0
    SCORES = 1
    WHITE_BOX = 2


LABELS, SCORES, WHITE_BOX = Access.LABELS, Access.SCORES, Access.WHITE_BOX
LEVEL_NAMES = {LABELS: "LabelOnly", SCORES: "ScoreOnly", WHITE_BOX: "WhiteBox"}


class AccessError(TypeError):
    """An attack was given a weaker oracle than it needs."""


class QueryBudgetExceeded(RuntimeError):
    """A score/label query would exceed a sample's budget."""


def repeat_rows(t: Tensor, n: int) -> Tensor:
    """``t`` stacked ``n`` times along the first dimension (one copy per draw)."""
    return t.repeat(n, *([1] * (t.dim() - 1)))


class Oracle:
    """Base class: a model plus per-sample counters for one attack call.

    Args:
        model: the classifier, mapping (N, ...) inputs to (N, K) logits.
        budget: maximum number of evaluated rows per sample (None: unlimited).

    Attributes:
        views: the views every evaluation goes through, innermost first (none by default).
    """

    level: ClassVar[Access]

    def __init__(self, model: nn.Module, budget: int | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if budget is not None and budget < 1:
            raise ValueError(f"the query budget must be >= 1, got {budget}")
        self.model = model
        self.budget = budget
        self.queries = torch.zeros(0, dtype=torch.long)
        self.gradient_calls = torch.zeros(0, dtype=torch.long)
        self.views: tuple[View, ...] = ()
        self._checked = False

    def fresh(self, n: int, device: torch.device | str | None = None) -> Self:
        """The same access (model, budget, views) with zeroed counters for n samples, on
        ``device`` (the inputs' device; None: the default device)."""
        new = copy.copy(self)
        new.queries = torch.zeros(n, dtype=torch.long, device=device)
        new.gradient_calls = torch.zeros(n, dtype=torch.long, device=device)
        new._checked = False
        return new

    def through(self, view: View) -> Self:
        """This access seen through ``view`` (outermost), sharing this oracle's counters
        and budget: queries and gradients through the view count for the same samples."""
        new = copy.copy(self)
        new.views = (*self.views, view)
        return new

    @property
    def draws(self) -> int:
        """Model evaluations per queried row (EOT views multiply it; 1 without)."""
        return math.prod(v.draws for v in self.views)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Eval mode for the duration of an attack, restoring ``.training`` afterwards."""
        with eval_mode(self.model):
            yield

    def remaining(self, rows: Tensor) -> Tensor:
        """Queries left for each sample in ``rows`` (a large number when unlimited); each
        query costs ``draws`` evaluations."""
        if self.budget is None:
            left = torch.full_like(rows, 2**62)
        else:
            left = self.budget - self.queries[rows]
        n = self.draws
        return left // n if n > 1 else left

    def _count(self, rows: Tensor) -> None:
        rows = rows.to(self.queries.device)
        if self.budget is not None:
            used = self.queries.clone().index_add_(0, rows, torch.ones_like(rows))
            if (used[rows] > self.budget).any():
                raise QueryBudgetExceeded(
                    f"a query would exceed the per-sample budget of {self.budget}"
                )
            self.queries.copy_(used)  # in place: views share this tensor
        else:
            self.queries.index_add_(0, rows, torch.ones_like(rows))

    def _forward(self, x: Tensor, rows: Tensor) -> Tensor:
        """Count one query per row of ``x`` and evaluate it through the views (one draw)."""
        self._count(rows)
        return self._through_views(x, len(self.views))

    def _through_views(self, x: Tensor, depth: int) -> Tensor:
        """The model seen through the ``depth`` innermost views."""
        if depth == 0:
            return self._logits_checked(x)
        return self.views[depth - 1].forward(x, lambda z: self._through_views(z, depth - 1))

    def _logits_checked(self, x: Tensor) -> Tensor:
        out = call_model(self.model, x)  # in the model's dtype; logits in >= float32
        check_logits(out, x.shape[0])
        if not self._checked:  # once per oracle: its first output tells
            self._checked = True
            refuse_probabilities(out)
        return out

    def _averaged(self, x: Tensor, rows: Tensor, post: Callable[[Tensor], Tensor]) -> Tensor:
        """``post`` of the model's output at ``x``, averaged over the draws (EOT)."""
        n = self.draws
        if n == 1:
            return post(self._forward(x, rows))
        out = post(self._forward(repeat_rows(x, n), rows.repeat(n)))
        return out.reshape(n, x.shape[0], -1).mean(dim=0)
