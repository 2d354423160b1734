"""Transferability matrix: how often examples crafted on one model fool another.

Entry (source i, target j) is the fraction of the samples that target j classifies
correctly on which the examples crafted white-box on source i (untargeted) make target j
err. The diagonal is the white-box success rate. With ``ensemble=True`` one more row is
added: for each target, examples crafted on the ensemble of all *other* models (summed
logits) — the no-box attack on a model you do not own.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.transferability import transferability_matrix
    >>> nets = {k: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    ...         for k in ("a", "b")}
    >>> x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    >>> tm = transferability_matrix(nets, x, y, advkit.Linf(0.2), advkit.FGM())
    >>> len(tm.rates), len(tm.rates[0])
    (2, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advkit.attacks.run import Attack, attack
from advkit.attacks.transfer import Transfer
from advkit.evaluate.figures import pyplot, save_figure
from advkit.threat import ThreatModel

__all__ = ["TransferMatrix", "transferability_matrix"]

ENSEMBLE_ROW = "ensemble of the others"


@dataclass(frozen=True)
class TransferMatrix:
    """Success rates ``rates[i][j]`` of examples crafted on ``sources[i]`` against
    ``targets[j]``, over ``counts[j]`` samples target j classifies correctly."""

    sources: list[str]
    targets: list[str]
    rates: list[list[float]]
    counts: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "targets": self.targets,
            "success_rate": self.rates,
            "correct_clean": self.counts,
        }

    def table(self) -> str:
        width = max(len(s) for s in [*self.sources, "source \\ target"])
        col = max(9, *(len(t) + 1 for t in self.targets))
        head = "source \\ target".ljust(width) + "".join(t.rjust(col) for t in self.targets)
        lines = [head]
        for s, row in zip(self.sources, self.rates, strict=True):
            lines.append(s.ljust(width) + "".join(f"{100 * r:{col - 1}.1f}%" for r in row))
        return "\n".join(lines)

    def plot(self, path: str | Path, title: str = "") -> Path:
        """A heat map of the matrix (percent), written to ``path``."""
        plt = pyplot("the transferability heat map")
        data = [[100 * r for r in row] for row in self.rates]
        fig, ax = plt.subplots(
            figsize=(1.6 + 1.1 * len(self.targets), 1.2 + 0.6 * len(self.sources))
        )
        im = ax.imshow(data, vmin=0, vmax=100, cmap="viridis")
        ax.set_xticks(range(len(self.targets)), self.targets, rotation=30, ha="right")
        ax.set_yticks(range(len(self.sources)), self.sources)
        ax.set_xlabel("target")
        ax.set_ylabel("crafted on")
        for i, row in enumerate(data):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", color="w" if v < 60 else "k")
        fig.colorbar(im, ax=ax, label="success (%)")
        ax.set_title(title, fontsize=9)
        return save_figure(fig, path)


def _fooled(model: nn.Module, x_adv: Tensor, y: Tensor, batch: int) -> Tensor:
    with torch.no_grad():
        pred = torch.cat(
            [model(x_adv[s : s + batch]).argmax(dim=1) for s in range(0, len(y), batch)]
        )
    return pred != y


def transferability_matrix(
    models: dict[str, nn.Module],
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Attack,
    *,
    ensemble: bool = False,
    seed: int = 0,
    batch_size: int = 256,
) -> TransferMatrix:
    """Craft untargeted examples on each model and test them on every model.

    Args:
        models: name → model (all in eval mode, same input space and classes).
        x, y: the samples and their labels.
        threat: the threat model (``eps=inf`` for a minimal-distortion ``method``).
        method: a white-box attack, e.g. ``FGM()``, ``PGD()``, ``CW(kappa=20)``.
        ensemble: add the leave-one-out ensemble row (needs at least 2 models).
        seed: the attacks' seed.
        batch_size: samples per attack call.
    """
    if not models:
        raise ValueError("give at least one model")
    if ensemble and len(models) < 2:
        raise ValueError("the ensemble row needs at least 2 models")
    names = list(models)
    index = torch.arange(len(y), device=y.device)

    def craft(source: nn.Module | Transfer, target_model: nn.Module) -> Tensor:
        parts = []
        for s in range(0, len(y), batch_size):
            sl = slice(s, s + batch_size)
            if isinstance(source, Transfer):
                res = attack(target_model, x[sl], y[sl], threat, source, seed=seed, index=index[sl])
            else:
                res = attack(source, x[sl], y[sl], threat, method, seed=seed, index=index[sl])
            parts.append(res.x_adv)
        return torch.cat(parts)

    correct = {t: ~_fooled(models[t], x, y, batch_size) for t in names}
    rates = []
    for s in names:
        x_adv = craft(models[s], models[s])
        rates.append([_rate(_fooled(models[t], x_adv, y, batch_size), correct[t]) for t in names])
    sources = list(names)
    if ensemble:
        row = []
        for t in names:
            others = tuple(models[o] for o in names if o != t)
            x_adv = craft(Transfer(others, method), models[t])
            row.append(_rate(_fooled(models[t], x_adv, y, batch_size), correct[t]))
        rates.append(row)
        sources.append(ENSEMBLE_ROW)
    return TransferMatrix(sources, names, rates, [int(correct[t].sum()) for t in names])


def _rate(fooled: Tensor, correct: Tensor) -> float:
    n = int(correct.sum())
    return float((fooled & correct).sum()) / n if n else float("nan")
