"""What every certifier returns: :class:`CertResult`.

Example:
    >>> import torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> x, y = torch.rand(5, 4), torch.randint(0, 3, (5,))
    >>> res = advkit.certify(model, x, y, advkit.Linf(0.01), advkit.CROWN())
    >>> res.lower.shape, res.certified.dtype
    (torch.Size([5]), torch.bool)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from advkit.threat import ThreatModel

__all__ = ["CertResult"]


@dataclass(frozen=True, eq=False)
class CertResult:
    """Per-sample certificates of one certifier on a batch.

    Attributes:
        lower: (N,) a lower bound of the margin z_y − max_{j≠y} z_j over the whole set
            Δ(x) (ball ∩ box): no point of Δ(x) has a smaller margin. Exact methods give
            the minimum itself (up to solver tolerance).
        class_lower: (N, K) lower bounds of z_y − z_j for each class j (+inf at j = y).
        certified: (N,) bool, ``lower > 0``: proved robust.
        attacked: (N,) bool, a verified counterexample was found (exact methods only;
            all False for bounding methods). Never True together with ``certified``.
        x_adv: (N, ...) the counterexamples where ``attacked`` (else the clean input).
        y: true labels (N,).
        threat: the threat model certified.
        method: the certifier's configuration.
        seconds: wall time of the call.
    """

    lower: Tensor
    class_lower: Tensor
    certified: Tensor
    attacked: Tensor
    x_adv: Tensor
    y: Tensor
    threat: ThreatModel
    method: Any
    seconds: float

    @property
    def certified_accuracy(self) -> float:
        """Fraction of samples proved robust."""
        return float(self.certified.float().mean()) if len(self.certified) else 0.0

    def status(self) -> list[str]:
        """Per sample: "certified", "attacked" or "unknown"."""
        return [
            "certified" if c else "attacked" if a else "unknown"
            for c, a in zip(self.certified.tolist(), self.attacked.tolist(), strict=True)
        ]
