"""CLEVER: an extreme-value *estimate* of each sample's robustness radius.

Problem (Weng, Zhang, Chen, Yi, Su, Gao, Hsieh & Daniel 2018, "Evaluating the Robustness
of Neural Networks: An Extreme Value Theory Approach"): the least perturbation that
changes the label of x0 is at least min_j g_j(x0) / L_j, where g_j = f_y − f_j and L_j is
the Lipschitz constant of g_j on the ball (in the dual norm of the threat's). CLEVER
estimates L_j: ``batches`` batches of ``batch_size`` points drawn uniformly in the ball of
radius R around x0 (then clipped to the box), the dual norm of ∇g_j at each, the maximum
of each batch, and a reverse Weibull distribution (``scipy.stats.weibull_max``) fitted to
those maxima; its location parameter is L̂_j, the estimated largest gradient norm. The
score is min(min_j g_j(x0) / L̂_j, R).

CLEVER is an estimate, never a certificate: the sampled gradient norms may all miss the
largest one, and on a gradient-masked model an attack often finds a smaller distance
than the score. A certified radius comes from :mod:`advkit.certify` (or, with a global
constant, :func:`advkit.evaluate.lipschitz.margin_lipschitz`).

When the batch maxima are all equal (a linear model, whose gradient is constant) there
is nothing to fit and L̂_j is that value; when the fit has no finite end point near the
maxima (their tail is Gumbel-like and the likelihood pushes the location to infinity),
L̂_j is the largest sampled norm and ``fitted`` says so.

Example:
    >>> import torch
    >>> from advkit import L2
    >>> from advkit.evaluate.clever import Clever
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2)).eval()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    ...     _ = net[0].bias.zero_()
    >>> est = Clever(L2(1.0), batches=4, batch_size=8).estimate(
    ...     net, torch.tensor([[0.8, 0.2]]), torch.tensor([0]))
    >>> round(est.score[0].item(), 4)  # (0.8 − 0.2) / ‖(1, −1)‖₂
    0.4243
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import Tensor, nn

from advkit.engine.rng import generator, stream
from advkit.threat import ThreatModel

__all__ = ["Clever", "CleverEstimate"]


@dataclass(frozen=True, eq=False)
class CleverEstimate:
    """CLEVER's estimates for a batch of samples (an estimate, not a certificate).

    Attributes:
        score: (N,) the estimated radius, min over classes of margin / L̂, capped at R.
        lipschitz: (N, K) L̂_j per class (NaN for the true class).
        margin: (N, K) g_j(x0) = f_y(x0) − f_j(x0).
        max_sampled: (N, K) the largest sampled gradient norm per class.
        fitted: (N, K) whether L̂_j is the Weibull fit's location (else the largest
            sampled norm: constant gradients, or a fit with no finite end point).
        seconds: wall-clock time of the estimate.
    """

    score: Tensor
    lipschitz: Tensor
    margin: Tensor
    max_sampled: Tensor
    fitted: Tensor
    seconds: float


@dataclass(frozen=True)
class Clever:
    """The CLEVER score of Weng et al. 2018 (an estimate, never a certificate).

    Args:
        threat: the norm of the radius (L∞, L2 or L1) and, as ε, the sampling radius R.
        batches: number of batches N_b whose maxima are fitted (default 50).
        batch_size: points per batch N_s (default 100).
        seed: seed of the sampling, per sample (by its index).
    """

    threat: ThreatModel
    batches: int = 50
    batch_size: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batches < 2 or self.batch_size < 1:
            raise ValueError(
                f"batches must be >= 2 and batch_size >= 1, got {self.batches} and "
                f"{self.batch_size}; the paper uses 50 batches of 100"
            )
        if not self.threat.bounded:
            raise ValueError("CLEVER samples in a ball of finite radius; give one, e.g. L2(2.0)")

    def estimate(
        self, model: nn.Module, x: Tensor, y: Tensor, index: Tensor | None = None
    ) -> CleverEstimate:
        """The scores of the samples (x, y); ``index`` keys their random streams."""
        start = time.perf_counter()
        keys = range(x.shape[0]) if index is None else index.tolist()
        labels = y.tolist()
        rows = [self._one(model, x[i : i + 1], labels[i], keys[i]) for i in range(len(x))]
        margin, lip, top, fitted = (torch.stack([r[k] for r in rows]) for k in range(4))
        radius = self.threat.eps_vector(x.shape[0], "cpu").double()
        ratio = (margin / lip).nan_to_num(nan=math.inf).clamp_min(0.0)
        score = torch.minimum(ratio.amin(dim=1), radius)
        return CleverEstimate(score, lip, margin, top, fitted, time.perf_counter() - start)

    def _one(self, model: nn.Module, x0: Tensor, y: int, key: int) -> tuple[Tensor, ...]:
        """Margins, L̂, largest sampled norms and fit flags (K,) of one sample (on the
        CPU, where the extreme-value fit runs)."""
        with torch.no_grad():
            logits = model(x0)[0].double().cpu()
        k = logits.shape[0]
        maxima = torch.zeros(k, self.batches, dtype=torch.float64, device="cpu")
        for b in range(self.batches):
            gens = [
                generator(self.seed, key, stream("clever", b, s)) for s in range(self.batch_size)
            ]
            points = self.threat.sample(x0.expand(self.batch_size, *x0.shape[1:]), gens)
            maxima[:, b] = self._gradient_norms(model, points, y, k).amax(dim=1)
        fits = [_location(maxima[j].numpy()) for j in range(k)]
        lip = torch.tensor([f[0] for f in fits], dtype=torch.float64, device="cpu")
        fitted = torch.tensor([f[1] for f in fits], device="cpu")
        fitted[y] = False
        lip[y] = math.nan
        margin = logits[y] - logits
        margin[y] = math.nan
        top = maxima.amax(dim=1)
        top[y] = math.nan
        return margin, lip, top, fitted

    def _gradient_norms(self, model: nn.Module, points: Tensor, y: int, k: int) -> Tensor:
        """(K, M) the dual norm of ∇(f_y − f_j) at each point, per class j."""
        points = points.detach().requires_grad_(True)
        logits = model(points)
        norms = torch.zeros(k, points.shape[0], dtype=torch.float64, device="cpu")
        for j in range(k):
            if j == y:
                continue
            (grad,) = torch.autograd.grad(
                (logits[:, y] - logits[:, j]).sum(), points, retain_graph=j < k - 1
            )
            norms[j] = self.threat.dual_norm(grad).double()
        return norms


def _location(maxima: np.ndarray) -> tuple[float, bool]:
    """The location of a reverse Weibull fitted to the batch maxima, and whether the fit
    was used: not when the maxima are all equal (nothing to fit), nor when the fit has no
    finite end point near the data (a shape above 1000, or a location more than ten times
    the maxima's range above their largest: maxima with a Gumbel-like tail drive the
    maximum-likelihood location to infinity). Then the largest sampled norm is taken; a
    fitted location below it is raised to it."""
    top, spread = float(maxima.max()), float(maxima.max() - maxima.min())
    if top <= 0.0 or spread <= 1e-9 * top:
        return top, False
    shape, loc, _ = stats.weibull_max.fit(maxima)
    if not (np.isfinite(loc) and shape <= 1e3 and loc <= top + 10 * spread):
        return top, False
    return max(float(loc), top), True
