"""Adversarial-example detectors: a score per input and a threshold set on clean data.

A detector rejects an input whose score exceeds a threshold chosen so that a fraction
``fpr`` (default 5%) of held-out clean inputs is rejected: the threshold is the
(1 − fpr)-quantile of the clean scores (the smallest clean score exceeded by no more than
``fpr`` of them). Detection is a defense like any other and must be evaluated with attacks that know
about it (:class:`advkit.attacks.detector_evasion.EvadeDetector`): Carlini & Wagner (2017,
"Adversarial examples are not easily detected") broke ten detectors that way.

- :class:`FeatureSqueezing` (Xu, Evans & Qi 2018, "Feature squeezing: detecting
  adversarial examples in deep neural networks"): the score is the largest L1 distance
  between the softmax output on the input and on each squeezed copy of it. The joint
  detector for grayscale images squeezes with 1-bit depth and 2×2 median smoothing; for
  color images with 5-bit depth, 2×2 median smoothing and non-local means (13×13 search
  window, 3×3 patches, bandwidth 2/255).
- :class:`GradientNormDetector` (Finlay & Oberman, "vulnerability as a proxy for attack
  detection"): the score is the norm of the input gradient of the cross-entropy at the
  predicted label. Inputs the model is vulnerable at (large gradients) are flagged.

Both scores are differentiable functions of the input (through BPDA for the
non-differentiable squeezers, see :func:`advkit.traits.bpda`; by double back-propagation
for the gradient norm), which is what adaptive attacks need. Every detector declares
:class:`advkit.traits.DetectorLike`, what an adaptive attack evaluates
(:class:`advkit.access.GuardedView`).

Example:
    >>> import torch
    >>> from advkit.defenses.detectors import FeatureSqueezing
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> det = FeatureSqueezing(model)
    >>> threshold = det.calibrate(torch.rand(40, 1, 8, 8), fpr=0.05)
    >>> det.detect(torch.rand(3, 1, 8, 8)).shape
    torch.Size([3])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.defenses.transforms import BitDepth, MedianFilter, NonLocalMeans
from advkit.traits import DetectorLike
from advkit.validate import check_batch

__all__ = ["Detector", "FeatureSqueezing", "GradientNormDetector"]


class Detector(nn.Module, DetectorLike):
    """Base class: ``score(x) -> (N,)``, a threshold calibrated on clean data, ``detect``.

    Subclasses implement :meth:`score`, which must keep the autograd graph when ``x``
    requires a gradient (adaptive attacks differentiate it) and may assume the model is
    in eval mode.

    Args:
        model: the classifier the detector guards (returning logits).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.training = False  # the detector itself has no training mode
        self.threshold = math.nan
        self.target_fpr = math.nan

    def score(self, x: Tensor) -> Tensor:
        """The per-sample detection score (N,); larger means more suspicious."""
        raise NotImplementedError

    @property
    def calibrated(self) -> bool:
        return not math.isnan(self.threshold)

    def scores(self, x: Tensor, batch_size: int = 256) -> Tensor:
        """Scores of ``x`` in batches, in eval mode, without a graph (N,)."""
        check_batch(x, torch.zeros(x.shape[0], dtype=torch.long, device=x.device))
        out = []
        with eval_mode(self.model):
            for start in range(0, x.shape[0], batch_size):
                out.append(self.score(x[start : start + batch_size].detach()).detach())
        return torch.cat(out) if out else torch.zeros(0, device=x.device)

    def calibrate(self, x_clean: Tensor, fpr: float = 0.05, batch_size: int = 256) -> float:
        """Set the threshold so that a fraction ``fpr`` of ``x_clean`` is flagged.

        The threshold is the smallest clean score exceeded by at most ⌊fpr·N⌋ of the N
        clean inputs (flagged means score > threshold). Calibrate on clean data held out
        from the data you evaluate on.

        Args:
            x_clean: clean inputs (N, ...), N ≥ 1/fpr so the quantile means something.
            fpr: target false-positive rate in (0, 1) (default 0.05, Xu et al. 2018).
            batch_size: inputs scored at once.

        Returns:
            The threshold.
        """
        if not 0.0 < fpr < 1.0:
            raise ValueError(f"fpr must be in (0, 1), got {fpr}")
        if x_clean.shape[0] * fpr < 1:
            raise ValueError(
                f"calibrating a {fpr:.0%} false-positive rate needs at least "
                f"{math.ceil(1 / fpr)} clean inputs, got {x_clean.shape[0]}"
            )
        s = self.scores(x_clean, batch_size).double().sort(descending=True).values
        allowed = math.floor(fpr * s.numel() + 1e-9)  # clean inputs we may flag
        self.threshold = float(s[allowed])
        self.target_fpr = fpr
        return self.threshold

    def _require_calibrated(self) -> None:
        if not self.calibrated:
            raise ValueError(
                "the detector has no threshold yet: call detector.calibrate(x_clean) on "
                "held-out clean data first"
            )

    def detect(self, x: Tensor, batch_size: int = 256) -> Tensor:
        """Whether each input is flagged as adversarial, (N,) bool."""
        self._require_calibrated()
        return self.scores(x, batch_size) > self.threshold

    def false_positive_rate(self, x_clean: Tensor, batch_size: int = 256) -> float:
        """Fraction of clean inputs flagged (measure it on data not used to calibrate)."""
        return float(self.detect(x_clean, batch_size).double().mean())


def _probabilities(model: nn.Module, x: Tensor) -> Tensor:
    return F.softmax(model(x), dim=1)


class FeatureSqueezing(Detector):
    """The feature-squeezing joint detector (Xu, Evans & Qi 2018).

    score(x) = max over squeezers s of ‖softmax(f(x)) − softmax(f(s(x)))‖₁, in [0, 2].

    Args:
        model: the classifier (returning logits).
        squeezers: the input transforms (default: the grayscale joint detector,
            ``BitDepth(1)`` and ``MedianFilter(2)``; see :meth:`for_color`).

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10)).eval()
        >>> FeatureSqueezing.for_color(model).score(torch.rand(2, 3, 4, 4)).shape
        torch.Size([2])
    """

    def __init__(self, model: nn.Module, squeezers: Sequence[nn.Module] | None = None) -> None:
        super().__init__(model)
        chosen = list(squeezers) if squeezers is not None else [BitDepth(1), MedianFilter(2)]
        if not chosen:
            raise ValueError("feature squeezing needs at least one squeezer")
        self.squeezers = nn.ModuleList(chosen)

    @classmethod
    def for_color(cls, model: nn.Module) -> FeatureSqueezing:
        """The color-image joint detector: 5-bit depth, 2×2 median, non-local means."""
        return cls(
            model,
            [
                BitDepth(5),
                MedianFilter(2),
                NonLocalMeans(patch_size=3, patch_distance=6, h=2 / 255),
            ],
        )

    def score(self, x: Tensor) -> Tensor:
        p = _probabilities(self.model, x)
        dists = [(p - _probabilities(self.model, s(x))).abs().sum(dim=1) for s in self.squeezers]
        return torch.stack(dists).max(dim=0).values


class GradientNormDetector(Detector):
    """Flags inputs where the model is vulnerable: a large ‖∇ₓ CE(f(x), ŷ)‖ (Finlay &
    Oberman), ŷ the predicted label. To first order an attack of size ε can raise the loss
    by ε times the dual norm of this gradient.

    Args:
        model: the classifier (returning logits).
        p: the norm of the gradient (1, 2 or ``math.inf``; default 2).
    """

    def __init__(self, model: nn.Module, p: float = 2.0) -> None:
        super().__init__(model)
        if p not in (1.0, 2.0, math.inf):
            raise ValueError(f"p must be 1, 2 or math.inf, got {p}")
        self.p = float(p)

    def score(self, x: Tensor) -> Tensor:
        keep_graph = x.requires_grad and torch.is_grad_enabled()
        xg = x if keep_graph else x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(xg)
            pred = logits.detach().argmax(dim=1)
            ce = F.cross_entropy(logits, pred, reduction="none")
            (g,) = torch.autograd.grad(ce.sum(), xg, create_graph=keep_graph)
        norm = g.reshape(g.shape[0], -1).norm(p=self.p, dim=1)
        return norm if keep_graph else norm.detach()
