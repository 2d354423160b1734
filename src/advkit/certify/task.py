"""The certification problem handed to a certifier: :class:`CertTask`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advkit.certify.graph import Graph
from advkit.certify.input_set import InputSet
from advkit.threat import ThreatModel

__all__ = ["CertOutput", "CertTask", "margin_spec"]


def margin_spec(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Coefficients (N, K, K) of the margins z_y − z_j for every class j, of ``dtype``."""
    eye = torch.eye(num_classes, device=y.device, dtype=dtype)
    return eye[y][:, None, :] - eye[None, :, :]


@dataclass(frozen=True, eq=False)
class CertTask:
    """A batch to certify: model, traced graph, inputs, labels, threat and input set.

    Attributes:
        model: the classifier (eval mode).
        graph: its traced graph.
        x: clean inputs (N, ...).
        y: labels (N,).
        threat: the threat model.
        inputs: Δ(x) as an :class:`~advkit.certify.input_set.InputSet`.
        num_classes: number of logits K.
        warm_start: candidate counterexamples (N, ...) inside Δ(x), e.g. an attack's best
            points, or None; exact certifiers check them before solving.
    """

    model: nn.Module
    graph: Graph
    x: Tensor
    y: Tensor
    threat: ThreatModel
    inputs: InputSet
    num_classes: int
    warm_start: Tensor | None = None

    @property
    def spec(self) -> Tensor:
        """The margin coefficients (N, K, K), of the inputs' dtype."""
        return margin_spec(self.y, self.num_classes, self.x.dtype)


@dataclass(frozen=True, eq=False)
class CertOutput:
    """What a certifier computes: per-class margin lower bounds and counterexamples.

    Attributes:
        class_lower: (N, K) lower bounds of z_y − z_j (the j = y entry is ignored).
        x_adv: (N, ...) candidate counterexamples, or None for bounding methods; they are
            checked by a forward pass before being reported.
    """

    class_lower: Tensor
    x_adv: Tensor | None = None
