"""Universal adversarial perturbations: one image-agnostic δ that fools most inputs.

Problem (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017, "Universal adversarial
perturbations"): find one δ with ‖δ‖_p ≤ ε such that the model's prediction on
clip(x + δ) differs from its prediction on x for most x of the data distribution. The
algorithm passes over a training split in a random order; for every point that δ does
not fool yet it runs a minimal attack (DeepFool) from clip(x + δ), adds the perturbation
Δv that attack needed to δ and projects δ back onto the ε ball. It stops when δ fools
``target_rate`` of the training split or after ``passes`` passes, and returns the δ of
the pass with the best training rate (a later pass may undo an earlier one's gains, so
more passes never give a worse δ). The measure is the
fooling rate on a *held-out* split: δ is data-dependent, so its rate on the points it was
built from is optimistic.

Why this is not an attack of the catalog: a catalog attack solves one problem per
sample (``advkit.attack`` and the per-sample kernel: each row has its own x0, ball and
record). Here one δ is shared by all samples and built sequentially from them, so there
is no per-sample problem to hand to the kernel; the per-sample inner attacks do go
through ``advkit.attack``.

Batches: the paper updates δ after every point (``batch_size=1``, exact). With a larger
batch, the inner attack runs on the batch's unfooled points from the same δ and the sum
of their Δv is added before one projection: far fewer calls, the same fixed points.

Targeted variant (one δ sending most inputs to the class ``target``): the inner attack is
targeted, and a point counts as done once it is predicted as the target.

Inner attack: a minimal attack (DeepFool, the paper's choice) runs with no bound in the
L2 geometry, as in the paper for every p; a fixed-ε attack (PGD) runs in the threat's own
ball of radius ε around clip(x + δ). The box: inputs are clip(x + δ) to the threat's box.

Example:
    >>> import torch
    >>> from advkit import Linf
    >>> from advkit.evaluate.universal import UniversalPerturbation
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x = torch.rand(40, 1, 4, 4)
    >>> uap = UniversalPerturbation(Linf(0.3), passes=2).fit(model, x)
    >>> bool(uap.delta.abs().max() <= 0.3), uap.delta.shape
    (True, torch.Size([1, 1, 4, 4]))
    >>> rate = uap.fooling(model, x, torch.zeros(40, dtype=torch.long))
    >>> 0.0 <= rate.fooling_rate <= 1.0
    True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from advkit.attacks import DeepFool
from advkit.attacks.run import attack
from advkit.engine import Attack
from advkit.engine.rng import generator, stream
from advkit.threat import L2, ThreatModel

__all__ = ["Fooling", "Universal", "UniversalPerturbation", "predictions"]


@torch.no_grad()
def predictions(model: nn.Module, x: Tensor, batch_size: int = 256) -> Tensor:
    """The model's predicted classes (N,) on ``x``, ``batch_size`` rows at a time."""
    return torch.cat([model(chunk).argmax(dim=1) for chunk in x.split(batch_size)])


@dataclass(frozen=True)
class Fooling:
    """What a universal perturbation does to a split.

    Attributes:
        n: number of samples.
        fooling_rate: fraction whose prediction on clip(x + δ) differs from that on x.
        misclassification_rate: fraction misclassified on clip(x + δ) (needs labels).
        clean_error: fraction misclassified on x.
        target_rate: fraction predicted as the target (targeted δ only, else None).
    """

    n: int
    fooling_rate: float
    misclassification_rate: float
    clean_error: float
    target_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rates as plain numbers, for JSON."""
        return {
            "n": self.n,
            "fooling_rate": self.fooling_rate,
            "misclassification_rate": self.misclassification_rate,
            "clean_error": self.clean_error,
            "target_rate": self.target_rate,
        }


@dataclass(frozen=True, eq=False)
class Universal:
    """A universal perturbation and how it was built.

    Attributes:
        delta: the perturbation (1, ...), ‖δ‖ ≤ ε in the threat's norm: that of the pass
            with the best training rate.
        threat: the ball δ lies in (its box is the one inputs are clipped to).
        target: the class a targeted δ aims at, else None.
        train_rates: the fooling (targeted: target) rate on the training split after each
            pass.
        gradient_calls: input gradients the inner attacks spent, in all.
        seconds: wall-clock time of the construction.
    """

    delta: Tensor
    threat: ThreatModel
    target: int | None
    train_rates: tuple[float, ...]
    gradient_calls: int
    seconds: float

    def apply(self, x: Tensor) -> Tensor:
        """clip(x + δ) to the threat's box."""
        return self.threat.clip_box(x + self.delta.to(x.dtype))

    def fooling(self, model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 256) -> Fooling:
        """The rates of :class:`Fooling` on (x, y), e.g. a held-out split."""
        clean = predictions(model, x, batch_size)
        moved = predictions(model, self.apply(x), batch_size)
        return Fooling(
            n=int(x.shape[0]),
            fooling_rate=_mean(moved != clean),
            misclassification_rate=_mean(moved != y),
            clean_error=_mean(clean != y),
            target_rate=None if self.target is None else _mean(moved == self.target),
        )


@dataclass(frozen=True)
class UniversalPerturbation:
    """Build one δ for a whole split (Moosavi-Dezfooli et al. 2017).

    Args:
        threat: the ball of δ, :class:`~advkit.threat.Linf` or :class:`~advkit.threat.L2`
            with one (scalar, finite) ε.
        inner: the attack run on each unfooled point: a minimal attack (default DeepFool)
            or a fixed-ε one such as PGD.
        target_rate: stop once this fraction of the training split is fooled.
        passes: at most this many passes over the training split.
        batch_size: points attacked from the same δ before one update (1: the paper).
        seed: seed of each pass's random order.
    """

    threat: ThreatModel
    inner: Attack = field(default_factory=lambda: DeepFool(steps=10))
    target_rate: float = 0.8
    passes: int = 5
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.threat.name not in ("linf", "l2"):
            raise ValueError(
                f"a universal perturbation is an L∞ or L2 ball, not {self.threat.name}; "
                "use advkit.Linf(eps) or advkit.L2(eps)"
            )
        if isinstance(self.threat.eps, Tensor) or not math.isfinite(self.threat.eps):
            raise ValueError(
                f"a universal perturbation needs one finite ε, got {self.threat.eps!r}; "
                "give a number, e.g. advkit.Linf(0.2)"
            )
        if not 0.0 < self.target_rate <= 1.0:
            raise ValueError(f"target_rate must be in (0, 1], got {self.target_rate}")
        if self.passes < 1 or self.batch_size < 1:
            raise ValueError(
                f"passes and batch_size must be >= 1, got {self.passes} and {self.batch_size}"
            )

    def fit(self, model: nn.Module, x: Tensor, target: int | None = None) -> Universal:
        """Build δ on the training split ``x`` (labels are not needed: fooling is a
        changed prediction; targeted: the prediction ``target``)."""
        start = time.perf_counter()
        clean = predictions(model, x, self.batch_size)
        delta = best = torch.zeros_like(x[:1])
        rates: list[float] = []
        calls = 0
        for k in range(self.passes):
            shuffle = generator(self.seed, k, stream("universal-order"))
            order = torch.randperm(x.shape[0], generator=shuffle, device=shuffle.device)
            for rows in order.split(self.batch_size):
                step, spent = self._step(model, x[rows], clean[rows], delta, target)
                calls += spent
                delta = self._project(delta + step)
            rate = self._rate(model, x, clean, delta, target)
            if rate > max(rates, default=-1.0):
                best = delta
            rates.append(rate)
            if rate >= self.target_rate:
                break
        seconds = time.perf_counter() - start
        return Universal(best, self.threat, target, tuple(rates), calls, seconds)

    def _step(
        self, model: nn.Module, x: Tensor, clean: Tensor, delta: Tensor, target: int | None
    ) -> tuple[Tensor, int]:
        """The summed perturbation Δv of the batch's unfooled points, and its gradient calls."""
        moved = self.threat.clip_box(x + delta)
        now = predictions(model, moved, self.batch_size)
        todo = now != target if target is not None else now == clean
        if not bool(todo.any()):
            return torch.zeros_like(delta), 0
        points, labels = moved[todo], now[todo]
        goal = None if target is None else torch.full_like(labels, target)
        res = attack(model, points, labels, self._inner_threat(), self.inner, target=goal)
        found = res.success.reshape(-1, *[1] * (x.dim() - 1))
        dv = torch.where(found, res.x_adv.to(points.dtype) - points, 0.0)
        return dv.sum(dim=0, keepdim=True), int(res.gradient_calls.sum())

    def _inner_threat(self) -> ThreatModel:
        """The paper's unbounded L2 for a minimal attack (the threat's norm if it has no
        L2), the threat's own ball for a fixed-ε one."""
        info = self.inner.describe()
        if not info.minimal:
            return self.threat
        if "l2" in info.norms:
            return L2(math.inf, lo=self.threat.lo, hi=self.threat.hi)
        return self.threat.with_eps(math.inf)

    def _project(self, delta: Tensor) -> Tensor:
        """δ onto the ε ball (the box applies to x + δ, not to δ)."""
        ball = type(self.threat)(self.threat.eps, lo=-math.inf, hi=math.inf)
        return ball.project(delta, torch.zeros_like(delta))

    def _rate(
        self, model: nn.Module, x: Tensor, clean: Tensor, delta: Tensor, target: int | None
    ) -> float:
        now = predictions(model, self.threat.clip_box(x + delta), self.batch_size)
        return _mean(now == target) if target is not None else _mean(now != clean)


def _mean(mask: Tensor) -> float:
    return float(mask.float().mean()) if mask.numel() else 0.0
