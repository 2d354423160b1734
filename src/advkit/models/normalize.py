"""Input normalization as the model's first layer.

Problem solved: many classifiers are trained on standardized inputs ``(x - mean) / std``,
while threat models (ε-balls, the [0, 1] box) are defined in pixel space. Putting the
normalization inside the model as its first layer lets every attack and certifier work on
raw pixels in [0, 1], with gradients flowing through the normalization.

Example:
    >>> import torch
    >>> from advkit.models.normalize import Normalize
    >>> norm = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    >>> norm(torch.full((2, 3, 4, 4), 0.75))[0, :, 0, 0].tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["Normalize"]


class Normalize(nn.Module):
    """Per-channel standardization ``(x - mean) / std`` for inputs of shape (N, C, ...).

    ``mean`` and ``std`` are stored as (persistent) buffers, so they move with
    ``.to(device)`` and are saved in the state dict.

    Args:
        mean: one value per channel, or a single value for all channels.
        std: one positive value per channel, or a single value for all channels.

    Raises:
        ValueError: empty or mismatched lengths, or a non-positive std.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        super().__init__()
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        s = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if m.numel() == 0 or s.numel() == 0:
            raise ValueError("Normalize: mean and std need at least one value.")
        if m.numel() != s.numel() and 1 not in (m.numel(), s.numel()):
            raise ValueError(
                f"Normalize: mean has {m.numel()} values but std has {s.numel()}; give one "
                "value per channel (or a single value) for both."
            )
        if not bool((s > 0).all()):
            raise ValueError(f"Normalize: std must be positive, got {s.tolist()}.")
        self.register_buffer("mean", m)
        self.register_buffer("std", s)

    def forward(self, x: Tensor) -> Tensor:
        """Standardize ``x`` of shape (N, C, ...) channel-wise; returns the same shape."""
        channels = max(self.mean.numel(), self.std.numel())
        if x.dim() < 2 or channels not in (1, x.shape[1]):
            raise ValueError(
                f"Normalize expects inputs of shape (N, {channels}, ...), got {tuple(x.shape)}."
            )
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - self.mean.reshape(shape)) / self.std.reshape(shape)

    def extra_repr(self) -> str:
        """Show the statistics in ``repr(model)``."""
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"
