"""Evaluation by one minimal-distortion attack: distortion and the whole accuracy-vs-ε curve.

A minimal-distortion attack (C&W, DeepFool, EAD...) returns, per sample, the smallest
adversarial perturbation it found. One run then gives robust accuracy at every ε: a
sample is broken within ε when its minimal distance is at most ε
(:meth:`advkit.result.AttackResult.robust_accuracy`), an upper bound on the true robust
accuracy at each ε. ``advkit evaluate --minimal`` prints this report.

Example:
    >>> import math, torch, advkit
    >>> from advkit.evaluate.minimal import evaluate_minimal
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(6, 1, 4, 4), torch.randint(0, 3, (6,))
    >>> rep = evaluate_minimal(model, (x, y), advkit.L2(math.inf), advkit.DeepFool(),
    ...                        eps_curve=[0.1, 1.0])
    >>> [e for e, _ in rep.curve]
    [0.1, 1.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from advkit.attacks.run import Attack
from advkit.distortion import DistortionReport, distortion_report
from advkit.evaluate.batched import Batches
from advkit.threat import ThreatModel

__all__ = ["MinimalEvaluation", "evaluate_minimal"]


@dataclass(frozen=True)
class MinimalEvaluation:
    """What one minimal-distortion attack showed about a model.

    Attributes:
        name: the attack's name for reports (e.g. its catalog name).
        attack: the attack configuration's repr.
        threat: the threat model's description (its ε caps the distances).
        n: number of samples.
        clean_accuracy: fraction correctly classified.
        distortion: success rate and L0/L1/L2/L∞ distortion of the successful examples.
        curve: (ε, robust accuracy) for every ε of the curve, increasing.
        minimal_distance: per sample, the distance of the example found.
        success: per sample, whether an adversarial example was found.
        info: free-form context (model, dataset, seed).
    """

    name: str
    attack: str
    threat: str
    n: int
    clean_accuracy: float
    distortion: DistortionReport
    curve: list[tuple[float, float]]
    minimal_distance: tuple[float, ...]
    success: tuple[bool, ...]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, with_samples: bool = True) -> dict[str, Any]:
        """The JSON form; ``with_samples=False`` leaves out the per-sample lists."""
        out: dict[str, Any] = {
            **self.info,
            "attack": self.attack,
            "threat": self.threat,
            "n": self.n,
            "clean_accuracy": self.clean_accuracy,
            "distortion": self.distortion.to_dict(),
            "curve": [{"eps": e, "robust_accuracy": a} for e, a in self.curve],
        }
        if with_samples:
            out["minimal_distance"] = list(self.minimal_distance)
            out["success"] = list(self.success)
        return out

    def table(self) -> str:
        """A readable summary for the terminal."""
        lines = [
            f"clean accuracy   {100 * self.clean_accuracy:6.2f}%   (n={self.n})",
            self.distortion.table(self.name),
        ]
        lines += [f"eps {e:<8g} robust accuracy ≤ {100 * a:6.2f}%" for e, a in self.curve]
        return "\n".join(lines)


def evaluate_minimal(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    threat: ThreatModel,
    method: Attack,
    *,
    name: str | None = None,
    eps_curve: list[float] | tuple[float, ...] = (),
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    info: dict[str, Any] | None = None,
) -> MinimalEvaluation:
    """Run a minimal-distortion attack once and read the accuracy-vs-ε curve off it.

    Args:
        model: the classifier (returning logits).
        data: ``(x, y)``: inputs (N, ...) in the threat's box and labels (N,).
        threat: the threat model; its ε (a float) caps the distances (``math.inf``: no
            cap) and, when finite, is a point of the curve.
        method: a minimal-distortion attack, e.g. ``CW()`` or ``DeepFool()``.
        name: the attack's name in the report (default: its class name).
        eps_curve: more ε values for the curve.
        batch_size: samples per attack call.
        seed: seed of every random choice (keyed per sample index).
        progress: show a progress bar over the batches.
        info: context recorded in the result (model name, dataset...).

    Returns:
        A :class:`MinimalEvaluation`.
    """
    if not method.describe().minimal:
        raise ValueError(
            f"{type(method).__name__} is not a minimal-distortion attack; use one such as "
            "CW or DeepFool, or advkit.evaluate for a fixed-ε attack"
        )
    if isinstance(threat.eps, Tensor):
        raise ValueError("evaluate_minimal needs one ε cap for all samples (a float)")
    x, y = data
    batches = Batches(batch_size, seed, progress)
    res = batches.attack(model, x, y, threat, method)
    cap = [float(threat.eps)] if math.isfinite(float(threat.eps)) else []
    pred = batches.predict(model, x)
    return MinimalEvaluation(
        name=name or type(method).__name__,
        attack=repr(method),
        threat=threat.describe(),
        n=int(x.shape[0]),
        clean_accuracy=float((pred == y).float().mean()),
        distortion=distortion_report(res),
        curve=[(e, res.robust_accuracy(e)) for e in sorted({*eps_curve, *cap})],
        minimal_distance=tuple(res.distance.tolist()),
        success=tuple(res.success.tolist()),
        info=dict(info or {}),
    )
