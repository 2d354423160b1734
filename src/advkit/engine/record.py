"""The per-sample best-so-far record every attack keeps.

Two orders, one record:

- *maximizing* (fixed-ε attacks): a successful point beats an unsuccessful one, then the
  higher objective wins;
- *minimizing* (minimal-distortion attacks): only successful points count, the lower
  distortion score wins; a sample with no success keeps x0.

Updating with any iterate can only keep or improve each sample's record, which is what
makes running longer, restarting or searching more never make a result worse.

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
    """

    def __init__(self, x: Tensor, success: Tensor, score: Tensor, *, minimize: bool) -> None:
        self.x = x.detach().clone()
        self.success = success.clone()
        self.score = score.detach().clone()
        self.minimize = minimize

    @classmethod
    def maximizing(cls, x0: Tensor, success: Tensor, loss: Tensor) -> Best:
        """Record of a fixed-ε attack, starting at x0 with its success and objective."""
        return cls(x0, success, loss, minimize=False)

    @classmethod
    def minimizing(cls, x0: Tensor, success: Tensor) -> Best:
        """Record of a minimal attack: x0 scores 0 where it already succeeds, else inf."""
        score = torch.where(success, 0.0, torch.inf).to(x0.dtype)
        return cls(x0, success, score, minimize=True)

    def unbroken(self) -> Tensor:
        """Positions whose best point does not meet the goal yet."""
        return (~self.success).nonzero().squeeze(1)

    def improves(self, local: Tensor, score: Tensor, success: Tensor) -> Tensor:
        """(M,) bool: which candidates (at positions ``local``) beat the record."""
        old_s, old = self.success[local], self.score[local]
        if self.minimize:
            return success & (score.to(old.dtype) < old)
        return (success & ~old_s) | ((success == old_s) & (score > old))

    def update(self, local: Tensor, x: Tensor, score: Tensor, success: Tensor) -> Tensor:
        """Record the candidates ``x`` (rows at positions ``local``) that improve; returns
        which did."""
        better = self.improves(local, score, success)
        pos = better.nonzero().squeeze(1)
        if pos.numel():
            idx = local[pos]
            self.x.index_copy_(0, idx, x.detach().index_select(0, pos))
            self.score[idx] = score[pos].detach().to(self.score.dtype)
            self.success[idx] = success[pos]
        return better
