"""The three access levels (labels < scores < white box) and :func:`as_oracle`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from advkit.access.oracle import (
    LABELS,
    LEVEL_NAMES,
    SCORES,
    WHITE_BOX,
    Access,
    AccessError,
    Oracle,
    repeat_rows,
)
from advkit.objectives import Objective

__all__ = ["LabelOnly", "ScoreOnly", "WhiteBox", "as_oracle"]


def _logits(out: Tensor) -> Tensor:
    return out


def _probabilities(out: Tensor) -> Tensor:
    return out.softmax(dim=1)


class LabelOnly(Oracle):
    """Top-1 labels only (decision-based attacks), with a per-sample query budget."""

    level = LABELS

    @torch.no_grad()
    def labels(self, x: Tensor, rows: Tensor) -> Tensor:
        """Predicted labels (M,) for the M rows of ``x``; ``rows`` names each row's sample."""
        return self._averaged(x, rows, _logits).argmax(dim=1)


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

    @torch.no_grad()
    def scores(self, x: Tensor, rows: Tensor) -> Tensor:
        """Scores (M, K) for the M rows of ``x``, detached from any autograd graph."""
        return self._averaged(x, rows, _logits if self.expose_logits else _probabilities)


class WhiteBox(ScoreOnly):
    """Full access: logits and gradients with respect to the input."""

    level = WHITE_BOX

    def __init__(self, model: nn.Module, budget: int | None = None) -> None:
        super().__init__(model, budget, logits=True)

    @torch.no_grad()
    def logits(self, x: Tensor, rows: Tensor) -> Tensor:
        """Logits (M, K) without a graph."""
        return self._averaged(x, rows, _logits)

    def value_and_grad(
        self,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        objective: Objective,
        rows: Tensor,
        wanted: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits, per-sample objective and its input gradient at ``x``.

        Under EOT (``draws`` > 1) each is the average over the draws: the attack ascends
        the expected loss. ``wanted`` (optional) picks, from the (averaged) logits, the
        rows whose gradient is needed: only those are differentiated and counted as
        gradient calls, the others get a zero gradient (one forward pass then serves both
        a check of every row and the gradient of some).

        Returns:
            ``(logits (M, K), loss (M,), grad (M, ...))``, all detached.
        """
        n, m = self.draws, x.shape[0]
        if n > 1:
            x, y, rows = repeat_rows(x, n), y.repeat(n), rows.repeat(n)
            target = None if target is None else target.repeat(n)
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self._forward(xg, rows)
            loss = objective(logits, y, target)
            out = logits.detach() if n == 1 else logits.detach().reshape(n, m, -1).mean(dim=0)
            if wanted is None:
                (grad,) = torch.autograd.grad(loss.sum(), xg)
            else:
                keep = wanted(out).repeat(n)
                rows = rows[keep]
                grad = _gradient_of(loss[keep].sum(), xg) if rows.numel() else torch.zeros_like(xg)
        self.gradient_calls.index_add_(0, rows, torch.ones_like(rows))
        # a finite sum proves every entry finite (one cheap pass); only a non-finite sum,
        # which an overflow could also give, needs the elementwise check
        if not grad.sum().isfinite() and not grad.isfinite().all():
            raise ValueError(
                "the input gradient contains NaN or inf: the model's gradients are "
                "broken (a sign of gradient masking); use an adaptive attack"
            )
        if n == 1:
            return out, loss.detach(), grad
        return (
            out,
            loss.detach().reshape(n, m).mean(dim=0),
            grad.reshape(n, m, *grad.shape[1:]).mean(dim=0),
        )


def _gradient_of(total: Tensor, xg: Tensor) -> Tensor:
    """d total / d xg."""
    (grad,) = torch.autograd.grad(total, xg)
    return grad


def as_oracle(
    model: nn.Module | Oracle, needs: Access, n: int, device: torch.device | None = None
) -> Oracle:
    """Wrap ``model`` for an attack needing access level ``needs``, with fresh counters
    for ``n`` samples on ``device`` (the inputs' device).

    A bare ``nn.Module`` is white-box. An :class:`Oracle` must be at least as rich as the
    attack needs.
    """
    oracle = model if isinstance(model, Oracle) else WhiteBox(model)
    if oracle.level < needs:
        raise AccessError(
            f"this attack needs {LEVEL_NAMES[needs]} access but was given "
            f"{LEVEL_NAMES[oracle.level]}; use an attack for that access level "
            "(see `advkit list`)"
        )
    return oracle.fresh(n, device)
