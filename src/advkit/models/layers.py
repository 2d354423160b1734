"""Small fixed layers advkit builds into imported models: constant arithmetic and axis
permutation.

Problem solved: an imported network (ONNX) adds, subtracts, multiplies or divides by
constants (input normalization, scaled residuals) and reorders axes (channels-last
inputs). Each such operation is a tiny module holding its constant as a buffer, so the
model stays a tree of standard layers that ``torch.fx`` traces without Python branches
and that moves with ``.to(device)``.

Example:
    >>> import torch
    >>> from advkit.models.layers import AddConstant, Permute
    >>> AddConstant(torch.tensor([1.0, 2.0]))(torch.zeros(1, 2)).tolist()
    [[1.0, 2.0]]
    >>> Permute((0, 2, 3, 1))(torch.zeros(1, 3, 4, 5)).shape
    torch.Size([1, 4, 5, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["AddConstant", "DivConstant", "MulConstant", "Permute", "SubtractFrom"]


class _Constant(nn.Module):
    """Holds ``constant`` (float32) as the buffer ``constant``."""

    constant: Tensor

    def __init__(self, constant: Tensor) -> None:
        super().__init__()
        self.register_buffer("constant", constant.detach().clone().float())

    def extra_repr(self) -> str:
        """The constant's shape in ``repr(model)``."""
        return f"constant={tuple(self.constant.shape)}"


class AddConstant(_Constant):
    """x + c, with c broadcast (a bias, or x − c stored as x + (−c))."""

    def forward(self, x: Tensor) -> Tensor:
        """x + constant."""
        return x + self.constant


class SubtractFrom(_Constant):
    """c − x, with c broadcast."""

    def forward(self, x: Tensor) -> Tensor:
        """constant − x."""
        return self.constant - x


class MulConstant(_Constant):
    """x · c, with c broadcast (a per-channel scale)."""

    def forward(self, x: Tensor) -> Tensor:
        """x * constant."""
        return x * self.constant


class DivConstant(_Constant):
    """x / c, with c broadcast (a per-channel standard deviation)."""

    def forward(self, x: Tensor) -> Tensor:
        """x / constant."""
        return x / self.constant


class Permute(nn.Module):
    """Reorder the axes of x; the batch axis stays first (``dims[0] == 0``).

    Args:
        dims: a permutation of ``range(x.dim())`` starting with 0.

    Raises:
        ValueError: ``dims`` is not such a permutation.
    """

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(len(self.dims))) or self.dims[0] != 0:
            raise ValueError(
                f"Permute: {self.dims} must be a permutation of 0..{len(self.dims) - 1} that "
                "keeps the batch axis 0 first."
            )

    def forward(self, x: Tensor) -> Tensor:
        """x with its axes in the order ``dims``."""
        return torch.permute(x, self.dims)

    def extra_repr(self) -> str:
        """The permutation in ``repr(model)``."""
        return f"dims={self.dims}"
