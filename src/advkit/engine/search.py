"""The per-sample search on the trade-off constant c of minimal-distortion attacks.

C&W, EAD, L-BFGS and ZOO minimize distortion + c · loss. Each sample's c starts at an
initial value, is multiplied by 10 while no round succeeded, and is bisected between the
largest failing and the smallest succeeding value once one did (Carlini & Wagner 2017).

Example:
    >>> import torch
    >>> from advkit.engine import ConstSearch
    >>> s = ConstSearch.start(2, 1e-3)
    >>> s.update(torch.arange(2), torch.tensor([True, False]))
    >>> [round(c, 6) for c in s.c.tolist()]
    [0.0005, 0.01]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ConstSearch"]

_BIG = 1e10


@dataclass
class ConstSearch:
    """Per-sample c with its bracket, over the caller's whole batch (float64, on the CPU
    whatever the inputs' device: a few numbers per sample, and MPS has no float64)."""

    c: Tensor
    lower: Tensor
    upper: Tensor

    @classmethod
    def start(cls, n: int, initial: float) -> ConstSearch:
        return cls(
            torch.full((n,), float(initial), dtype=torch.float64, device="cpu"),
            torch.zeros(n, dtype=torch.float64, device="cpu"),
            torch.full((n,), _BIG, dtype=torch.float64, device="cpu"),
        )

    def update(self, local: Tensor, ok: Tensor) -> None:
        """After a round on positions ``local``: ``ok`` says which of them succeeded."""
        ok = ok.cpu()
        local = local.cpu()
        c, lower, upper = self.c[local], self.lower[local], self.upper[local]
        upper = torch.where(ok, torch.minimum(upper, c), upper)
        lower = torch.where(ok, lower, torch.maximum(lower, c))
        self.upper[local], self.lower[local] = upper, lower
        self.c[local] = torch.where(upper < _BIG, (lower + upper) / 2, c * 10)
