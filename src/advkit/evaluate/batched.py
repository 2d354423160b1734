"""Attacks over a whole dataset, batch by batch, as one result over all samples.

Every random choice is keyed by (seed, sample index), so a sample's result does not depend
on the batch it lands in; the batches only bound memory. Attacks are wrapped in BPDA/EOT
as the model needs (:func:`advkit.attacks.adaptive.adapt`).

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.batched import Batches
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(10, 1, 4, 4), torch.randint(0, 3, (10,))
    >>> res = Batches(batch_size=4).attack(model, x, y, advkit.Linf(0.1), advkit.FGM())
    >>> res.success.shape
    torch.Size([10])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from advkit.access import eval_mode
from advkit.attacks.adaptive import EOT_SAMPLES, adapt
from advkit.attacks.run import Attack, attack
from advkit.distortion import TargetCases, target_cases
from advkit.result import AttackResult
from advkit.threat import ThreatModel

__all__ = ["Batches", "concat_results"]


@dataclass(frozen=True)
class Batches:
    """How to run over a dataset.

    Attributes:
        batch_size: samples per model or attack call.
        seed: seed of every random choice (keyed per sample index).
        progress: show a progress bar over the batches.
        eot_samples: draws per EOT evaluation when the model is random.
        precision: the attacks' autocast precision (:func:`advkit.attack`'s).
    """

    batch_size: int = 256
    seed: int = 0
    progress: bool = False
    eot_samples: int = EOT_SAMPLES
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def slices(self, n: int, desc: str) -> Iterator[slice]:
        """The batches of ``n`` samples, as a progress bar named ``desc`` advances."""
        for start in tqdm(range(0, n, self.batch_size), disable=not self.progress, desc=desc):
            yield slice(start, start + self.batch_size)

    def attack(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, method: Attack
    ) -> AttackResult:
        """:func:`advkit.attack` on (x, y), as one call on the whole data would give."""
        method = adapt(model, method, self.eot_samples)
        index = torch.arange(x.shape[0], device=x.device)
        parts = [
            attack(
                model,
                x[sl],
                y[sl],
                threat,
                method,
                seed=self.seed,
                index=index[sl],
                precision=self.precision,
            )
            for sl in self.slices(x.shape[0], "attack")
        ]
        return concat_results(parts)

    def target_cases(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, method: Attack
    ) -> TargetCases:
        """:func:`advkit.distortion.target_cases` on (x, y): every sample attacked towards
        each of its K − 1 incorrect labels (K: the model's number of outputs)."""
        method = adapt(model, method, self.eot_samples)
        index = torch.arange(x.shape[0], device=x.device)
        with eval_mode(model), torch.no_grad():
            k = int(model(x[:1]).shape[1])
        parts = [
            target_cases(
                model, x[sl], y[sl], threat, method, num_classes=k, seed=self.seed, index=index[sl]
            )
            for sl in self.slices(x.shape[0], "cases")
        ]
        return TargetCases(
            best=concat_results([p.best for p in parts]),
            average=concat_results([p.average for p in parts]),
            worst=concat_results([p.worst for p in parts]),
        )

    def predict(self, model: nn.Module, x: Tensor) -> Tensor:
        """The model's predicted labels (N,) on x, in eval mode, without gradients."""
        with eval_mode(model), torch.no_grad():
            return torch.cat([model(x[sl]).argmax(dim=1) for sl in self.slices(len(x), "predict")])


def concat_results(parts: list[AttackResult]) -> AttackResult:
    """The results of consecutive batches of one attack run, joined along the samples."""
    if not parts:
        raise ValueError("concat_results needs at least one result")
    first = parts[0]
    per_sample = [f.name for f in fields(first) if isinstance(getattr(first, f.name), Tensor)]
    joined: dict[str, Any] = {n: torch.cat([getattr(p, n) for p in parts]) for n in per_sample}
    return replace(first, **joined)
