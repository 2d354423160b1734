"""Distortion reports: how far adversarial examples are, and best/average/worst case over targets.

:func:`distortion_report` summarizes any :class:`~advkit.result.AttackResult`: attack success
rate and the L0/L1/L2/L∞ distortion (mean and median over successful samples; samples that
needed no attack count with distortion 0, as in the accuracy they enter).

:func:`target_cases` runs a targeted attack towards every incorrect label and gives the three
cases of Carlini & Wagner (2017) and Sharma (2018), per image:

- **best case**: the easiest incorrect label (least distortion among successful targets);
- **average case**: one incorrect label drawn at random (keyed by seed and sample index);
- **worst case**: the hardest incorrect label (success only if every target succeeds).

Example:
    >>> import math, torch, advkit
    >>> from advkit.distortion import distortion_report
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
    >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), advkit.DeepFool())
    >>> sorted(distortion_report(res).mean)
    ['l0', 'l1', 'l2', 'linf']
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from advkit.attacks.run import Attack, attack
from advkit.engine.rng import mix, stream
from advkit.result import AttackResult, lp_distances
from advkit.threat import ThreatModel

__all__ = [
    "DistortionReport",
    "TargetCases",
    "distortion_of",
    "distortion_report",
    "sample_distances",
    "target_cases",
]

NORMS = ("l0", "l1", "l2", "linf")


@dataclass(frozen=True)
class DistortionReport:
    """Success rate and distortion statistics of one attack run.

    Attributes:
        n: number of samples.
        success_rate: fraction of samples broken.
        mean: mean L0/L1/L2/L∞ distortion over successful samples (NaN if none).
        median: median distortion over successful samples (NaN if none).
    """

    n: int
    success_rate: float
    mean: dict[str, float]
    median: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "success_rate": self.success_rate,
            "mean": dict(self.mean),
            "median": dict(self.median),
        }

    def table(self, title: str = "") -> str:
        """A short text table: ASR, then mean and median per norm."""
        head = f"{title}: " if title else ""
        lines = [f"{head}ASR {100 * self.success_rate:6.2f}%  (n={self.n})"]
        for k in NORMS:
            lines.append(f"  {k:5s} mean {self.mean[k]:10.4f}   median {self.median[k]:10.4f}")
        return "\n".join(lines)


def distortion_report(result: AttackResult) -> DistortionReport:
    """ASR and L0/L1/L2/L∞ distortion (mean, median) over the successful samples."""
    return distortion_of(result.x_adv, result.x, result.success)


def distortion_of(x_adv: Tensor, x: Tensor, success: Tensor) -> DistortionReport:
    """:func:`distortion_report` from the returned points, clean inputs and success flags."""
    dists = lp_distances(x_adv, x)
    ok = success
    mean, median = {}, {}
    for k in NORMS:
        d = dists[k][ok].double()
        mean[k] = float(d.mean()) if d.numel() else float("nan")
        median[k] = float(d.median()) if d.numel() else float("nan")
    rate = float(ok.float().mean()) if len(ok) else 0.0
    return DistortionReport(len(ok), rate, mean, median)


def sample_distances(result: AttackResult) -> dict[str, list[Any]]:
    """Every sample's success flag, and the distance of each successful one in the threat's norm.

    The distances are those of the examples the attack found: for a minimal attack, upper
    bounds on each sample's minimal adversarial distance.

    Example:
        >>> import math, torch, advkit
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
        >>> x, y = torch.rand(4, 16), torch.tensor([0, 1, 2, 0])
        >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), advkit.DeepFool())
        >>> sorted(sample_distances(res))
        ['distances', 'success']
    """
    ok = result.success
    return {"success": ok.tolist(), "distances": result.distance[ok].double().tolist()}


@dataclass(frozen=True)
class TargetCases:
    """The best, average and worst case over all incorrect labels, one result each.

    Each is an :class:`AttackResult` whose rows come from the chosen target's run, so its
    ``success`` is still the re-checked criterion for that target and
    ``robust_accuracy(eps)`` gives the curve of that case.
    """

    best: AttackResult
    average: AttackResult
    worst: AttackResult

    def reports(self) -> dict[str, DistortionReport]:
        return {
            "best": distortion_report(self.best),
            "average": distortion_report(self.average),
            "worst": distortion_report(self.worst),
        }


def _pick(runs: list[AttackResult], choice: Tensor) -> AttackResult:
    """Row i of the result is row i of ``runs[choice[i]]``."""
    rows = torch.arange(choice.numel(), device=choice.device)
    picked: dict[str, Any] = {}
    for f in fields(AttackResult):
        values = [getattr(r, f.name) for r in runs]
        if isinstance(values[0], Tensor) and f.name not in ("x", "y"):
            picked[f.name] = torch.stack(values)[choice, rows]
        else:
            picked[f.name] = values[0]
    return AttackResult(**picked)


def target_cases(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Attack,
    *,
    num_classes: int,
    seed: int = 0,
    index: Tensor | None = None,
) -> TargetCases:
    """Attack every image towards each of its ``num_classes − 1`` incorrect labels.

    Args:
        model, x, y, threat, method, seed, index: as for :func:`advkit.attack`.
        num_classes: number of classes K (K − 1 targeted runs).

    Returns:
        The best (least distortion in the threat's norm among successes), average (a random
        incorrect label, keyed by seed and sample index) and worst (greatest distortion; a
        failure if any target fails) cases.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    n = x.shape[0]
    if index is None:
        index = torch.arange(n, device=x.device)
    y = y.long()
    runs = [
        attack(model, x, y, threat, method, target=(y + off) % num_classes, seed=seed, index=index)
        for off in range(1, num_classes)
    ]
    success = torch.stack([r.success for r in runs])  # (K-1, N)
    dist = torch.stack([r.distance for r in runs]).double()
    best = torch.where(success, dist, torch.inf).argmin(dim=0)
    worst = torch.where(success, dist, torch.inf).argmax(dim=0)
    avg = torch.tensor(
        [mix(seed, int(k), stream("average-target")) % (num_classes - 1) for k in index.tolist()],
        dtype=torch.long,
        device=x.device,
    )
    return TargetCases(_pick(runs, best), _pick(runs, avg), _pick(runs, worst))
