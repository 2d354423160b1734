"""Gradient-masking checks: signs that a robust accuracy is an artifact of broken gradients.

After Athalye, Carlini & Wagner (2018) and AutoAttack's ``checks.py``, each check looks
for a symptom that cannot happen when gradient attacks work as intended:

- ``probabilities``: the model returns probabilities (or log-probabilities) instead of
  logits, so cross-entropy gradients vanish when it is confident;
- ``nondeterministic``: two forward passes on the same input differ, but nothing in the
  model is declared random, so attacks are not averaging over the randomness (EOT);
- ``zero-gradients`` / ``nan-gradients`` / ``exploding-gradients``: the input gradient of
  the logit margin is exactly zero, non-finite, or huge for some samples;
- ``single-step-stronger``: FGSM breaks samples the iterative suite left robust;
- ``noise-stronger``: uniform random points of the ball break samples the white-box suite
  left robust (a black-box attack stronger than white-box);
- ``unbounded-not-broken``: PGD with ε covering the whole input box fails to reach ~100%
  success, though any input can then be mapped to another class's image;
- ``flat-curve``: robust accuracy does not decrease over a range of ε at least doubling.

Each :class:`MaskingFlag` names the adaptive attack to run; ``advkit evaluate --adaptive``
runs it. :func:`advkit.evaluate` runs the checks by default and prints the flags loudly.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.sanity import check_gradient_masking
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    >>> flags = check_gradient_masking(model, x, y, advkit.Linf(0.1))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advkit.access import eval_mode, looks_like_probabilities
from advkit.attacks.adaptive import EOT_SAMPLES, adapt
from advkit.attacks.gradient import FGM, PGD
from advkit.attacks.noise import RandomNoise
from advkit.attacks.run import Attack, attack
from advkit.objectives import margin
from advkit.threat import ThreatModel
from advkit.traits import bpda, is_random, needs_bpda

__all__ = ["MaskingFlag", "check_gradient_masking"]

EXPLODING = 1e6
"""An input-gradient ℓ1 norm above this counts as exploding (pixels in [0, 1])."""


@dataclass(frozen=True)
class MaskingFlag:
    """One symptom of gradient masking.

    Attributes:
        check: the check's name (see the module docstring).
        message: what was observed, with counts.
        remedy: the adaptive attack to run (``advkit evaluate --adaptive`` runs it).
        samples: indices of the samples the check found adversarial examples for (FGSM,
            random noise); :func:`advkit.evaluate` counts them as broken.
        distances: the distance of each of those examples, in the threat's norm.
    """

    check: str
    message: str
    remedy: str
    samples: tuple[int, ...] = ()
    distances: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _input_gradients(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Gradient of the logit margin z_y − max_{j≠y} z_j with respect to x, per sample."""
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(margin(model(xg), y).sum(), xg)
    return g.reshape(g.shape[0], -1)


def check_gradient_masking(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    robust: Tensor | None = None,
    curve: list[tuple[float, float]] | None = None,
    adaptive: bool = True,
    eot_samples: int = EOT_SAMPLES,
    seed: int = 0,
    limit: int = 64,
) -> list[MaskingFlag]:
    """Run the gradient-masking checks on (x, y) and return the flags raised.

    Args:
        model: the classifier (returning logits).
        x: inputs (N, ...) in the threat's box; y: labels (N,).
        threat: the threat model of the evaluation (a single ε).
        robust: which samples the evaluation's suite left robust (N,) bool; default: the
            ones PGD-20 leaves robust.
        curve: the evaluation's (ε, robust accuracy) pairs, for the ``flat-curve`` check.
        adaptive: check the model as the evaluation attacked it (BPDA/EOT as needed).
        eot_samples: EOT draws when ``adaptive`` and the model is random.
        seed: seed of the checks' attacks.
        limit: at most this many samples for the costlier checks.

    Returns:
        The flags raised, empty when nothing looks masked.
    """
    flags: list[MaskingFlag] = []
    y = y.long()
    with eval_mode(model), torch.no_grad():
        out = model(x[:limit])
        again = model(x[:limit])
    if looks_like_probabilities(out):
        flags.append(
            MaskingFlag(
                "probabilities",
                "the model returns probabilities, not logits",
                "remove the final softmax; attack the logits (DLR/margin losses)",
            )
        )
    elif bool((out <= 0).all()) and bool((out.logsumexp(1).abs() < 1e-3).all()):
        flags.append(
            MaskingFlag(
                "probabilities",
                "the model returns log-probabilities, not logits",
                "remove the final log-softmax or use the margin/DLR loss (apgd-dlr)",
            )
        )
    if flags:
        return flags  # the attack checks below would refuse probabilities
    if not torch.equal(out, again) and not (adaptive and is_random(model)):
        flags.append(
            MaskingFlag(
                "nondeterministic",
                "two forward passes on the same inputs differ, and no layer is declared random",
                "EOT: mark the random layers with advkit.traits.mark_random "
                "(or run --adaptive, which applies EOT to the whole model)",
            )
        )
    pred = out.argmax(1)
    correct = (pred == y[:limit]).nonzero().squeeze(1)
    if correct.numel():
        with eval_mode(model), bpda(adaptive and needs_bpda(model)):
            g = _input_gradients(model, x[correct], y[correct])
        finite = g.isfinite().all(1)
        norm = g.abs().sum(1)
        n_nan, n_zero = int((~finite).sum()), int((finite & (norm == 0)).sum())
        n_big = int((finite & (norm > EXPLODING)).sum())
        if n_nan:
            flags.append(
                MaskingFlag(
                    "nan-gradients",
                    f"{n_nan}/{correct.numel()} samples have NaN/inf input gradients",
                    "BPDA through the layer producing them, or a decision-based attack",
                )
            )
        if n_zero > 0.1 * correct.numel():
            flags.append(
                MaskingFlag(
                    "zero-gradients",
                    f"{n_zero}/{correct.numel()} correctly classified samples have an exactly "
                    "zero input gradient (shattered gradients)",
                    "BPDA: evaluate with adaptive=True (advkit's transforms support it)"
                    if needs_bpda(model)
                    else "BPDA: wrap the non-differentiable layer as an advkit InputTransform "
                    "(FunctionTransform); meanwhile noise/black-box attacks (--adaptive)",
                )
            )
        if n_big:
            flags.append(
                MaskingFlag(
                    "exploding-gradients",
                    f"{n_big}/{correct.numel()} samples have input gradients with ℓ1 norm "
                    f"> {EXPLODING:g}",
                    "the margin/DLR loss (apgd-dlr) and BPDA for the unstable layer",
                )
            )

    def run(method: Attack, idx: Tensor, th: ThreatModel) -> tuple[Tensor, Tensor]:
        """(indices of ``idx`` the attack broke, their distances)."""
        if idx.numel() == 0:
            return idx, torch.zeros(0)
        m = adapt(model, method, eot_samples) if adaptive else method
        res = attack(model, x[idx], y[idx], th, m, seed=seed, index=idx)
        return idx[res.success], res.distance[res.success]

    def broken(method: Attack, idx: Tensor, th: ThreatModel) -> Tensor:
        return run(method, idx, th)[0]

    if robust is None:
        with eval_mode(model), torch.no_grad():
            robust = model(x).argmax(1) == y
        rows = robust.nonzero().squeeze(1)
        robust[broken(PGD(steps=20, restarts=1), rows, threat)] = False
    rows = robust.nonzero().squeeze(1)

    hit, dist = run(FGM(), rows, threat)
    if hit.numel():
        flags.append(
            MaskingFlag(
                "single-step-stronger",
                f"FGSM broke {hit.numel()} samples the iterative suite left robust "
                "(counted as broken)",
                "--adaptive (adds FGSM and random noise to the cascade); BPDA/EOT",
                tuple(hit.tolist()),
                tuple(dist.tolist()),
            )
        )
    left = rows[~torch.isin(rows, hit)][:limit]
    hit, dist = run(RandomNoise(samples=20), left, threat)
    if hit.numel():
        flags.append(
            MaskingFlag(
                "noise-stronger",
                f"random points of the ball broke {hit.numel()} samples the white-box suite "
                "left robust (counted as broken)",
                "--adaptive (adds random noise to the cascade); a black-box attack; BPDA/EOT",
                tuple(hit.tolist()),
                tuple(dist.tolist()),
            )
        )
    some = rows[: min(limit, 32)]
    if some.numel():
        whole = threat.with_eps(
            float(threat.hi - threat.lo) * (1.0 if threat.p == float("inf") else x[0].numel())
        )
        n_unb = broken(PGD(steps=50, restarts=1), some, whole).numel()
        if n_unb < 0.9 * some.numel():
            flags.append(
                MaskingFlag(
                    "unbounded-not-broken",
                    f"PGD with ε covering the whole box broke only {n_unb}/{some.numel()} "
                    "samples (expected ~100%)",
                    "BPDA/EOT for the defense's layers; check the loss for saturation",
                )
            )
    if curve and len(curve) > 1:
        (e0, a0), (e1, a1) = curve[0], curve[-1]
        if e0 > 0 and e1 >= 2 * e0 and a1 >= a0 and a0 > 0:
            flags.append(
                MaskingFlag(
                    "flat-curve",
                    f"robust accuracy stays {100 * a0:.1f}% from ε={e0:g} to ε={e1:g}",
                    "BPDA/EOT; larger ε should eventually break every sample",
                )
            )
    return flags
