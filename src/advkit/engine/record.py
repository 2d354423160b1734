"""The per-sample best-so-far record every attack keeps.

Two orders, one record:

- *maximizing* (fixed-ε attacks): a successful point beats an unsuccessful one, then the
  higher objective wins;
- *minimizing* (minimal-distortion attacks): only successful points count, the lower
  distortion score wins; a sample with no success keeps x0.

Updating with any iterate can only keep or improve each sample's record, which is what
makes running longer, restarting or searching more never make a result worse. A candidate
may come with its logits; the record keeps those of each best point where known (``known``),
so the caller can report a point's logits without evaluating it again.

Example:
    >>> import torch
    >>> from advkit.engine import Best
    >>> best = Best.minimizing(torch.zeros(2, 3), torch.tensor([False, False]))
    >>> best.update(torch.tensor([0, 1]), torch.ones(2, 3), torch.tensor([2.0, 1.0]),
    ...             torch.tensor([True, False])).tolist()  # which candidates improved
    [True, False]
    >>> best.success.tolist(), best.score.tolist()
    ([True, False], [2.0, inf])
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["Best"]


class Best:
    """Per-sample best point of an attack over the caller's whole batch.

    Attributes:
        x: the best point of each sample (x0 until something better is found).
        success: whether the best point meets the attack's goal.
        score: its objective (maximizing) or distortion score (minimizing).
        minimize: the record's order.
        logits: (N, K) the logits of each best point where ``known`` (None until some
            are given).
        known: (N,) bool, the rows of ``logits`` that belong to the best point.
    """

    def __init__(
        self,
        x: Tensor,
        success: Tensor,
        score: Tensor,
        *,
        minimize: bool,
        logits: Tensor | None = None,
    ) -> None:
        self.x = x.detach().clone()
        self.success = success.clone()
        self.score = score.detach().clone()
        self.minimize = minimize
        self.logits = None if logits is None else logits.detach().clone()
        self.known = torch.full_like(self.success, logits is not None, dtype=torch.bool)

    @classmethod
    def maximizing(
        cls, x0: Tensor, success: Tensor, loss: Tensor, logits: Tensor | None = None
    ) -> Best:
        """Record of a fixed-ε attack, starting at x0 with its success and objective (and
        its logits, when known)."""
        return cls(x0, success, loss, minimize=False, logits=logits)

    @classmethod
    def minimizing(cls, x0: Tensor, success: Tensor, logits: Tensor | None = None) -> Best:
        """Record of a minimal attack: x0 scores 0 where it already succeeds, else inf."""
        score = torch.where(success, 0.0, torch.inf).to(x0.dtype)
        return cls(x0, success, score, minimize=True, logits=logits)

    def unbroken(self) -> Tensor:
        """Positions whose best point does not meet the goal yet."""
        return (~self.success).nonzero().squeeze(1)

    def improves(self, local: Tensor, score: Tensor, success: Tensor) -> Tensor:
        """(M,) bool: which candidates (at positions ``local``) beat the record."""
        old_s, old = self.success[local], self.score[local]
        if self.minimize:
            return success & (score.to(old.dtype) < old)
        return (success & ~old_s) | ((success == old_s) & (score > old))

    def update(
        self,
        local: Tensor,
        x: Tensor,
        score: Tensor,
        success: Tensor,
        logits: Tensor | None = None,
    ) -> Tensor:
        """Record the candidates ``x`` (rows at positions ``local``) that improve, with
        their ``logits`` when given; returns which did."""
        better = self.improves(local, score, success)
        pos = better.nonzero().squeeze(1)
        if pos.numel():
            idx = local[pos]
            self.x.index_copy_(0, idx, x.detach().index_select(0, pos))
            self.score[idx] = score[pos].detach().to(self.score.dtype)
            self.success[idx] = success[pos]
            self._record_logits(idx, pos, logits)
        return better

    def _record_logits(self, idx: Tensor, pos: Tensor, logits: Tensor | None) -> None:
        """Keep the logits of the improved rows, or mark them unknown."""
        if self.logits is None and logits is not None:
            self.logits = logits.new_zeros(len(self.known), *logits.shape[1:])
        if logits is None or self.logits is None or logits.shape[1:] != self.logits.shape[1:]:
            self.known[idx] = False  # none given, or another kind of output
            return
        rows = logits.detach().index_select(0, pos).to(self.logits.dtype)
        self.logits.index_copy_(0, idx, rows)
        self.known[idx] = True
