"""Randomized smoothing: a certified L2 radius for the Gaussian-smoothed classifier.

Problem solved: certify L2 robustness of *any* classifier f by replacing it with its
smoothed version g(x) = argmax_c P(f(x + σ·N(0, I)) = c). If the top class has
probability at least p_A > 1/2, g is constant on the L2 ball of radius σ·Φ⁻¹(p_A) (Cohen,
Rosenfeld & Kolter 2019, "Certified adversarial robustness via randomized smoothing").
CERTIFY: n0 noisy samples guess the top class, n fresh samples count it, and p_A is
lower-bounded with the one-sided Clopper-Pearson interval at level 1 − α; if the bound is
≤ 1/2 the smoothed classifier abstains (prediction −1, radius 0).

The certificate is about g, not about f; it holds with probability ≥ 1 − α over the noise.
Noise is drawn per sample from a generator keyed by (seed, sample index), in batches.

Defaults: σ = 0.25, n0 = 100, n = 10 000, α = 0.001, 1 000 noisy inputs per forward pass.

Example:
    >>> import torch
    >>> from advkit.certify.smoothing import Smoothing, smoothed_certify
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> res = smoothed_certify(net, torch.rand(2, 4), Smoothing(n0=10, n=100))
    >>> res.radius.shape
    torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.stats import beta, norm
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.access.precision import call_model, working_dtype
from advkit.engine.rng import generator, stream
from advkit.validate import check_batch

__all__ = ["Smoothing", "SmoothingResult", "smoothed_certify"]


@dataclass(frozen=True)
class Smoothing:
    """Configuration of Gaussian randomized smoothing (Cohen et al. 2019).

    Args:
        sigma: noise standard deviation σ (in input units).
        n0: samples to select the top class.
        n: samples to estimate its probability.
        alpha: failure probability of the certificate.
        batch: noisy inputs per forward pass.
    """

    sigma: float = 0.25
    n0: int = 100
    n: int = 10_000
    alpha: float = 0.001
    batch: int = 1000

    def __post_init__(self) -> None:
        if self.sigma <= 0 or self.n0 < 1 or self.n < 1 or self.batch < 1:
            raise ValueError(f"Smoothing needs sigma > 0 and positive counts, got {self}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")


@dataclass(frozen=True, eq=False)
class SmoothingResult:
    """Smoothed predictions and certified L2 radii.

    Attributes:
        prediction: (N,) the smoothed classifier's class, −1 where it abstains.
        radius: (N,) certified L2 radius (0 where it abstains).
        p_lower: (N,) Clopper-Pearson lower bound of the top class's probability.
        config: the :class:`Smoothing` used.
    """

    prediction: Tensor
    radius: Tensor
    p_lower: Tensor
    config: Smoothing

    def certified_accuracy(self, y: Tensor, radius: float) -> float:
        """Fraction of samples predicted correctly with certified radius ≥ ``radius``."""
        ok = (self.prediction == y) & (self.radius >= radius)
        return float(ok.float().mean())


def _counts(model: nn.Module, x: Tensor, num: int, cfg: Smoothing, g: torch.Generator) -> Tensor:
    counts: Tensor | None = None
    left = num
    while left > 0:
        b = min(cfg.batch, left)
        noise = torch.randn((b, *x.shape), generator=g, device=g.device)  # per-sample stream
        noise = noise.to(x.device, working_dtype(x.dtype))
        with torch.no_grad():  # noisy inputs in >= float32, cast to the model's dtype
            pred = call_model(model, x[None] + cfg.sigma * noise).argmax(1)
        c = torch.bincount(pred, minlength=1)
        counts = c if counts is None else _add(counts, c)
        left -= b
    assert counts is not None
    return counts


def _add(a: Tensor, b: Tensor) -> Tensor:
    size = max(a.numel(), b.numel())
    return torch.nn.functional.pad(a, (0, size - a.numel())) + torch.nn.functional.pad(
        b, (0, size - b.numel())
    )


def smoothed_certify(
    model: nn.Module,
    x: Tensor,
    config: Smoothing = Smoothing(),
    *,
    seed: int = 0,
    index: Tensor | None = None,
) -> SmoothingResult:
    """Predict and certify with the Gaussian-smoothed ``model`` (Cohen et al., CERTIFY).

    Args:
        model: the base classifier returning logits.
        x: inputs (N, ...).
        config: the smoothing parameters.
        seed: seed of the noise, combined with each sample's ``index``.
        index: dataset index of each sample (N,), default ``arange(N)``.

    Returns:
        A :class:`SmoothingResult`.
    """
    labels = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    check_batch(x, labels, lo=-float("inf"), hi=float("inf"))
    n = x.shape[0]
    idx = range(n) if index is None else index.tolist()
    preds, radii, lows = [], [], []
    with eval_mode(model):
        for i in range(n):
            g = generator(seed, idx[i], stream("smoothing-noise"))
            top = int(_counts(model, x[i], config.n0, config, g).argmax())
            counts = _counts(model, x[i], config.n, config, g)
            k = int(counts[top]) if top < counts.numel() else 0
            p = float(beta.ppf(config.alpha, k, config.n - k + 1)) if k > 0 else 0.0
            lows.append(p)
            if p > 0.5:
                preds.append(top)
                radii.append(config.sigma * float(norm.ppf(p)))
            else:
                preds.append(-1)
                radii.append(0.0)
    return SmoothingResult(
        prediction=torch.tensor(preds, device=x.device),
        radius=torch.tensor(radii, device=x.device),
        p_lower=torch.tensor(lows, device=x.device),
        config=config,
    )
