"""What every attack returns: :class:`AttackResult`.

Example:
    >>> import torch
    >>> import advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> x, y = torch.rand(5, 4), torch.randint(0, 3, (5,))
    >>> res = advkit.attack(model, x, y, advkit.Linf(0.1), advkit.FGM())
    >>> res.success.shape, res.distance.shape
    (torch.Size([5]), torch.Size([5]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from advkit.access.precision import working_dtype
from advkit.threat import ThreatModel

__all__ = ["AttackResult", "lp_distances"]


def lp_distances(x_adv: Tensor, x: Tensor) -> dict[str, Tensor]:
    """L0, L1, L2 and L∞ distances per sample (L0 counts changed features), measured in
    float32 (float64 for float64 inputs) whatever the inputs' dtype."""
    w = working_dtype(x.dtype)
    d = (x_adv.to(w) - x.to(w)).reshape(x.shape[0], -1)
    return {
        "l0": (d.abs() > 1e-8).sum(dim=1).float(),
        "l1": d.abs().sum(dim=1),
        "l2": d.norm(dim=1),
        "linf": d.abs().amax(dim=1) if d.shape[1] else torch.zeros(d.shape[0]),
    }


@dataclass(frozen=True, eq=False)
class AttackResult:
    """The outcome of one attack on a batch.

    Attributes:
        x_adv: the returned points (N, ...), inside the threat's ball and box.
        x: the clean inputs (N, ...).
        y: true labels (N,).
        target: target labels (N,) for targeted attacks, else None.
        success: (N,) bool, the success criterion re-evaluated on ``model(x_adv)``.
        distance: (N,) the distance ‖x_adv − x‖ in the threat's norm.
        queries: (N,) model evaluations spent on each sample.
        gradient_calls: (N,) input-gradient computations spent on each sample.
        logits: (N, K) the model's logits at ``x_adv``.
        threat: the threat model the attack respected.
        config: the attack configuration (a frozen dataclass).
    """

    x_adv: Tensor
    x: Tensor
    y: Tensor
    target: Tensor | None
    success: Tensor
    distance: Tensor
    queries: Tensor
    gradient_calls: Tensor
    logits: Tensor
    threat: ThreatModel
    config: Any

    @property
    def success_rate(self) -> float:
        """Fraction of samples on which the attack succeeded."""
        return float(self.success.float().mean()) if len(self.success) else 0.0

    def distances(self) -> dict[str, Tensor]:
        """L0/L1/L2/L∞ distances of every returned point to its clean input."""
        return lp_distances(self.x_adv, self.x)

    def robust_accuracy(self, eps: float, norm: str | None = None) -> float:
        """Fraction of samples *not* broken within distance ``eps``.

        For minimal-distortion attacks this gives the whole accuracy-vs-ε curve from one
        run (an upper bound on the true robust accuracy at every ε). For a fixed-ε attack it
        is only meaningful for ``eps`` ≥ the attack's ε.

        Args:
            eps: the radius.
            norm: ``"l0"``, ``"l1"``, ``"l2"`` or ``"linf"`` to measure the returned points
                in another norm; default the threat's norm.
        """
        if norm is None:
            dist = self.distance
        else:
            all_norms = self.distances()
            if norm not in all_norms:
                raise ValueError(f"norm must be one of {sorted(all_norms)}, got {norm!r}")
            dist = all_norms[norm]
        broken = self.success & (dist <= eps + 1e-6)
        return 1.0 - float(broken.float().mean()) if len(broken) else 0.0
