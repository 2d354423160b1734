"""Per-sample Adam (Kingma & Ba 2015), the optimizer of C&W, EAD, ZOO and the detector
evasion attack.

State is elementwise (first and second moments and the step count of every element), so
rows compact with the active set (:meth:`Adam.select`), a coordinate-wise method can
update only some elements (``where``, ZOO's coordinate Adam), and a sample's state can be
reset on its own (:meth:`Adam.reset`).

Example:
    >>> import torch
    >>> from advkit.engine import Adam
    >>> w = torch.zeros(2, 3)
    >>> opt = Adam.like(w, lr=0.1)
    >>> w = opt.step(w, torch.ones(2, 3))  # the first step moves each element by lr
    >>> [round(v, 4) for v in w[0].tolist()]
    [-0.1, -0.1, -0.1]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Adam"]


@dataclass
class Adam:
    """Adam's elementwise state for a batch of per-sample parameters (minimizing).

    Attributes:
        lr: learning rate.
        m: first moments (same shape as the parameters).
        v: second moments.
        t: number of updates of each element.
        beta1, beta2, eps: Adam's constants (defaults 0.9, 0.999, 1e-8).
    """

    lr: float
    m: Tensor
    v: Tensor
    t: Tensor
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    @classmethod
    def like(
        cls, param: Tensor, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> Adam:
        """Zero state for parameters shaped like ``param``."""
        zeros = torch.zeros_like(param)
        return cls(lr, zeros, zeros.clone(), zeros.clone(), beta1, beta2, eps)

    def moments(self, grad: Tensor, where: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Update the moments with ``grad`` (only at ``where`` if given) and return the
        bias-corrected (m̂, √v̂ + eps).

        The bias corrections 1 − βᵗ are computed in float64 and rounded once to the
        parameters' dtype, as with a Python scalar step count.
        """
        b1, b2 = self.beta1, self.beta2
        if where is None:
            self.t += 1
            self.m = b1 * self.m + (1 - b1) * grad
            self.v = b2 * self.v + (1 - b2) * grad * grad
        else:
            self.t += where.to(self.t.dtype)
            self.m = torch.where(where, b1 * self.m + (1 - b1) * grad, self.m)
            self.v = torch.where(where, b2 * self.v + (1 - b2) * grad * grad, self.v)
        t = self.t.clamp_min(1).double()
        mhat = self.m / (1 - b1**t).to(self.m.dtype)
        vhat = self.v / (1 - b2**t).to(self.v.dtype)
        return mhat, vhat.sqrt() + self.eps

    def step(self, param: Tensor, grad: Tensor, where: Tensor | None = None) -> Tensor:
        """The parameters after one Adam step on ``grad`` (descending); elements outside
        ``where`` keep their value."""
        mhat, denom = self.moments(grad, where)
        new = param - self.lr * mhat / denom
        return new if where is None else torch.where(where, new, param)

    def select(self, keep: Tensor) -> Adam:
        """The state of rows ``keep`` only."""
        return Adam(
            self.lr, self.m[keep], self.v[keep], self.t[keep], self.beta1, self.beta2, self.eps
        )

    def reset(self, rows: Tensor) -> None:
        """Forget the state of rows ``rows`` (bool mask or positions)."""
        for buf in (self.m, self.v, self.t):
            buf[rows] = 0
