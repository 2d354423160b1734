"""Access levels: what an attack may see of the model, with per-sample accounting.

- :class:`WhiteBox`: logits and input gradients.
- :class:`ScoreOnly`: probabilities (or logits, if the deployment exposes them), never an
  autograd graph, a per-sample query budget.
- :class:`LabelOnly`: the top-1 label only, a per-sample query budget.

Each attack declares the level it needs (``WHITE_BOX > SCORES > LABELS``). Handing it a
richer oracle works; a poorer one raises :class:`AccessError`. An oracle counts, for each
sample of the attacked batch, every row it evaluated for that sample (a batch of 2B+1
evaluations for one image counts 2B+1) and every gradient it computed.

During a call the model is in eval mode; every module's ``.training`` flag is restored
afterwards. Oracles never touch the global RNG.

Example:
    >>> import torch
    >>> from advkit.access import ScoreOnly
    >>> model = torch.nn.Linear(4, 3)
    >>> oracle = ScoreOnly(model, budget=100).fresh(2)
    >>> with oracle.session():
    ...     p = oracle.scores(torch.rand(2, 4), torch.tensor([0, 1]))
    >>> oracle.queries.tolist()
    [1, 1]
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import ClassVar, Self

import torch
from torch import Tensor, nn

from advkit.objectives import Objective

__all__ = [
    "LABELS",
    "SCORES",
    "WHITE_BOX",
    "Access",
    "AccessError",
    "LabelOnly",
    "Oracle",
    "QueryBudgetExceeded",
    "ScoreOnly",
    "WhiteBox",
    "as_oracle",
    "eval_mode",
]


class Access(IntEnum):
    """Access levels, ordered: a richer oracle serves an attack that needs less."""

    LABELS = 0
    SCORES = 1
    WHITE_BOX = 2


LABELS, SCORES, WHITE_BOX = Access.LABELS, Access.SCORES, Access.WHITE_BOX
_LEVEL_NAMES = {LABELS: "LabelOnly", SCORES: "ScoreOnly", WHITE_BOX: "WhiteBox"}


class AccessError(TypeError):
    """An attack was given a weaker oracle than it needs."""


class QueryBudgetExceeded(RuntimeError):
    """A score/label query would exceed a sample's budget."""


@contextmanager
def eval_mode(model: nn.Module, *, warn: bool = True) -> Iterator[None]:
    """Put ``model`` in eval mode; restore each module's ``.training`` flag afterwards.

    ``warn`` (default True) warns when the model arrives in training mode; training loops
    that switch to eval mode on purpose to craft examples turn it off.
    """
    flags = [(m, m.training) for m in model.modules()]
    if warn and model.training:
        warnings.warn(
            "the model is in training mode; advkit evaluates it in eval mode (dropout off, "
            "batch-norm running statistics) and restores the mode afterwards. Call "
            "model.eval() before attacking to silence this warning.",
            UserWarning,
            stacklevel=4,
        )
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _check_output(out: Tensor, n: int) -> None:
    if out.dim() != 2 or out.shape[0] != n:
        raise ValueError(
            f"the model must return logits of shape (N, num_classes); for a batch of {n} "
            f"it returned shape {tuple(out.shape)}"
        )
    if not torch.isfinite(out).all():
        raise ValueError(
            "the model returned NaN or inf logits; check the input range and the model"
        )


def looks_like_probabilities(out: Tensor) -> bool:
    """True when every row of ``out`` lies in [0, 1] and sums to 1 (within 1e-3)."""
    if out.shape[1] < 2:
        return False
    in_unit = bool(((out >= 0) & (out <= 1)).all())
    sums_to_one = bool(((out.sum(dim=1) - 1).abs() < 1e-3).all())
    return in_unit and sums_to_one


class Oracle:
    """Base class: a model plus per-sample counters for one attack call.

    Args:
        model: the classifier, mapping (N, ...) inputs to (N, K) logits.
        budget: maximum number of evaluated rows per sample (None: unlimited).
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
        self._checked = False

    def fresh(self, n: int) -> Self:
        """A new oracle on the same model and budget with zeroed counters for n samples."""
        new = type(self)(self.model, self.budget)
        new.queries = torch.zeros(n, dtype=torch.long)
        new.gradient_calls = torch.zeros(n, dtype=torch.long)
        return new

    @contextmanager
    def session(self) -> Iterator[None]:
        """Eval mode for the duration of an attack, restoring ``.training`` afterwards."""
        with eval_mode(self.model):
            yield

    def remaining(self, rows: Tensor) -> Tensor:
        """Queries left for each sample in ``rows`` (a large number when unlimited)."""
        if self.budget is None:
            return torch.full_like(rows, 2**62)
        return self.budget - self.queries[rows]

    def _count(self, rows: Tensor) -> None:
        rows = rows.to(self.queries.device)
        if self.budget is not None:
            used = self.queries.clone().index_add_(0, rows, torch.ones_like(rows))
            if (used[rows] > self.budget).any():
                raise QueryBudgetExceeded(
                    f"a query would exceed the per-sample budget of {self.budget}"
                )
            self.queries.copy_(used)  # in place: wrappers (EOT) share this tensor
        else:
            self.queries.index_add_(0, rows, torch.ones_like(rows))

    def _forward(self, x: Tensor, rows: Tensor) -> Tensor:
        self._count(rows)
        out = self.model(x)
        _check_output(out, x.shape[0])
        if not self._checked:
            self._checked = True
            if looks_like_probabilities(out.detach()):
                raise ValueError(
                    "the model returns probabilities (rows in [0, 1] summing to 1) but "
                    "advkit needs logits: remove the final softmax layer (gradients of "
                    "probabilities vanish and make attacks look weaker than they are)"
                )
        return out


class LabelOnly(Oracle):
    """Top-1 labels only (decision-based attacks), with a per-sample query budget."""

    level = LABELS

    @torch.no_grad()
    def labels(self, x: Tensor, rows: Tensor) -> Tensor:
        """Predicted labels (M,) for the M rows of ``x``; ``rows`` names each row's sample."""
        return self._forward(x, rows).argmax(dim=1)


class ScoreOnly(LabelOnly):
    """Probabilities (no gradients), with a per-sample query budget.

    Args:
        model: the classifier (returning logits).
        budget: maximum evaluated rows per sample.
        logits: return raw logits instead of probabilities, when the deployment exposes
            them.
    """

    level = SCORES

    def __init__(self, model: nn.Module, budget: int | None = None, logits: bool = False):
        super().__init__(model, budget)
        self.expose_logits = logits

    def fresh(self, n: int) -> Self:
        new = super().fresh(n)
        new.expose_logits = self.expose_logits
        return new

    @torch.no_grad()
    def scores(self, x: Tensor, rows: Tensor) -> Tensor:
        """Scores (M, K) for the M rows of ``x``, detached from any autograd graph."""
        out = self._forward(x, rows)
        return out if self.expose_logits else out.softmax(dim=1)


class WhiteBox(ScoreOnly):
    """Full access: logits and gradients with respect to the input."""

    level = WHITE_BOX

    def __init__(self, model: nn.Module, budget: int | None = None) -> None:
        super().__init__(model, budget, logits=True)

    @torch.no_grad()
    def logits(self, x: Tensor, rows: Tensor) -> Tensor:
        """Logits (M, K) without a graph."""
        return self._forward(x, rows)

    def value_and_grad(
        self,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        objective: Objective,
        rows: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits, per-sample objective and its input gradient at ``x``.

        Returns:
            ``(logits (M, K), loss (M,), grad (M, ...))``, all detached.
        """
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self._forward(xg, rows)
            loss = objective(logits, y, target)
            (grad,) = torch.autograd.grad(loss.sum(), xg)
        self.gradient_calls.index_add_(0, rows, torch.ones_like(rows))
        # a finite sum proves every entry finite (one cheap pass); only a non-finite sum,
        # which an overflow could also give, needs the elementwise check
        if not grad.sum().isfinite() and not grad.isfinite().all():
            raise ValueError(
                "the input gradient contains NaN or inf: the model's gradients are "
                "broken (a sign of gradient masking); use an adaptive attack"
            )
        return logits.detach(), loss.detach(), grad


def as_oracle(model: nn.Module | Oracle, needs: Access, n: int) -> Oracle:
    """Wrap ``model`` for an attack needing access level ``needs``, with fresh counters.

    A bare ``nn.Module`` is white-box. An :class:`Oracle` must be at least as rich as the
    attack needs.
    """
    oracle = model if isinstance(model, Oracle) else WhiteBox(model)
    if oracle.level < needs:
        raise AccessError(
            f"this attack needs {_LEVEL_NAMES[needs]} access but was given "
            f"{_LEVEL_NAMES[oracle.level]}; use an attack for that access level "
            "(see `advkit list`)"
        )
    return oracle.fresh(n)
