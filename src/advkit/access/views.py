"""Model views: what an adaptive attack evaluates instead of the bare model.

A view wraps an oracle's evaluation of the model, ``forward(x, inner)`` where ``inner``
evaluates the model through the views inside this one; ``oracle.through(view)`` gives
the same access level seen through it, on the same counters and budget. Views compose:
``oracle.through(GuardedView(det)).through(BPDAView())`` differentiates the detector's
score through BPDA.

- :class:`BPDAView` (Athalye, Carlini & Wagner 2018): non-differentiable layers
  back-propagate through their declared approximation (:mod:`advkit.traits`).
- :class:`EOTView` (Athalye et al. 2018, Expectation over Transformation): every query
  evaluates ``samples`` draws of a random model and averages what the access level
  exposes (logits, probabilities, the loss and its gradient); each draw is counted.
- :class:`ReparameterizedView` (Athalye et al. 2018, §4.3): queries at z evaluate the
  model at x = h(z), gradients flowing through h.
- :class:`GuardedView` (Carlini & Wagner 2017, "Adversarial examples are not easily
  detected"): the logits gain a column log(s(x)/τ), the guarding detector's score over
  its threshold, > 0 exactly when the detector flags x.

Example:
    >>> import torch
    >>> from advkit.access import EOTView, ScoreOnly
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> oracle = ScoreOnly(model, budget=10).fresh(2)
    >>> averaged = oracle.through(EOTView(samples=5))
    >>> p = averaged.scores(torch.rand(2, 4), torch.tensor([0, 1]))
    >>> oracle.queries.tolist(), averaged.remaining(torch.tensor([0, 1])).tolist()
    ([5, 5], [1, 1])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from advkit.access.precision import model_input, working_dtype
from advkit.traits import DetectorLike, bpda

__all__ = ["AutocastView", "BPDAView", "EOTView", "GuardedView", "ReparameterizedView", "View"]

Inner = Callable[[Tensor], Tensor]
"""The model seen through the views inside a view: inputs (M, ...) to outputs (M, K)."""


class View:
    """Base of views: the model evaluated through ``forward`` (unchanged by default)."""

    @property
    def draws(self) -> int:
        """Model evaluations averaged per query (1 unless the view draws)."""
        return 1

    def forward(self, x: Tensor, inner: Inner) -> Tensor:
        """The view's output at ``x`` given the inner evaluation ``inner``."""
        return inner(x)


@dataclass(frozen=True)
class BPDAView(View):
    """Evaluate with BPDA: non-differentiable layers (declared through
    :class:`advkit.traits.Traits`) back-propagate through their approximation."""

    def forward(self, x: Tensor, inner: Inner) -> Tensor:
        with bpda():
            return inner(x)


@dataclass(frozen=True)
class EOTView(View):
    """Average every query over ``samples`` draws of the model's randomness (EOT).

    The oracle evaluates each queried row ``samples`` times, counts each evaluation, and
    returns the average of what its level exposes: logits (white-box), probabilities (or
    logits) for score access, the per-draw loss and input gradient for
    ``value_and_grad``; labels are the top class of the averaged logits.

    Args:
        samples: draws per query (>= 1).
    """

    samples: int

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")

    @property
    def draws(self) -> int:
        return self.samples


@dataclass(frozen=True)
class ReparameterizedView(View):
    """Queries at z evaluate the model at x = h(z); gradients are taken with respect to z.

    Args:
        h: a differentiable map keeping the input's shape.
    """

    h: Callable[[Tensor], Tensor]

    def forward(self, x: Tensor, inner: Inner) -> Tensor:
        return inner(self.h(x))


@dataclass(frozen=True)
class GuardedView(View):
    """The model's K logits, then log(s(x)/τ): (M, K + 1) outputs.

    The last column is > 0 exactly when ``detector`` flags x (scores are floored at
    1e-12·τ); it is differentiable wherever the score is.

    Args:
        detector: a calibrated detector of the attacked model.
    """

    detector: DetectorLike

    def forward(self, x: Tensor, inner: Inner) -> Tensor:
        logits = inner(x)
        tau = self.detector.threshold
        score = self.detector.score(model_input(self.detector.model, x))  # in its dtype
        flag = torch.log(score.clamp_min(1e-12 * tau) / tau)
        return torch.cat([logits, flag[:, None].to(logits.dtype)], dim=1)


@dataclass(frozen=True)
class AutocastView(View):
    """The model's forward, and so its backward, under ``torch.autocast`` to ``dtype``
    (``bfloat16`` or ``float16``) on the inputs' device; its outputs come back in at least
    float32, so the attack's losses, steps, projections and records stay in float32.

    Example:
        >>> import torch
        >>> from advkit.access import WhiteBox
        >>> model = torch.nn.Linear(4, 3)
        >>> fast = WhiteBox(model).fresh(2).through(AutocastView(torch.bfloat16))
        >>> fast.logits(torch.rand(2, 4), torch.tensor([0, 1])).dtype
        torch.float32
    """

    dtype: torch.dtype

    def forward(self, x: Tensor, inner: Inner) -> Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            out = inner(x)
        return out.to(working_dtype(out.dtype)) if out.is_floating_point() else out
