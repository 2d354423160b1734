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

Each check is one function returning a :class:`MaskingFlag` or None, and
:func:`check_gradient_masking` runs them all. Each flag names the adaptive attack to run;
``advkit evaluate --adaptive`` runs it. :func:`advkit.evaluate` runs the checks by default
and prints the flags loudly.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.sanity import check_gradient_masking
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    >>> flags = check_gradient_masking(model, (x, y), advkit.Linf(0.1))
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

from advkit.access import eval_mode, looks_like_probabilities
from advkit.access.precision import model_input
from advkit.attacks.adaptive import EOT_SAMPLES, adapt
from advkit.attacks.gradient import FGM, PGD
from advkit.attacks.noise import RandomNoise
from advkit.attacks.run import Attack, attack
from advkit.data.samples import Rows, Samples
from advkit.objectives import margin
from advkit.threat import ThreatModel
from advkit.traits import bpda, is_random, needs_bpda

__all__ = [
    "EXPLODING",
    "MaskingFlag",
    "Probe",
    "check_exploding_gradients",
    "check_flat_curve",
    "check_gradient_masking",
    "check_nan_gradients",
    "check_noise",
    "check_nondeterministic",
    "check_probabilities",
    "check_single_step",
    "check_unbounded",
    "check_zero_gradients",
]

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
        points: the examples themselves (one row per sample of ``samples``), or None.
        logits: the model's logits at ``points``, or None.
    """

    check: str
    message: str
    remedy: str
    samples: tuple[int, ...] = ()
    distances: tuple[float, ...] = ()
    points: Tensor | None = field(default=None, repr=False, compare=False)
    logits: Tensor | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field but the tensors (``points``, ``logits``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _TENSORS}


_TENSORS = ("points", "logits")


@dataclass(frozen=True)
class Probe:
    """The model and data the attack-based checks run on, attacked as the evaluation did.

    Attributes:
        model: the classifier (returning logits).
        data: the samples (inputs in the threat's box, labels), read a batch at a time.
        threat: the threat model of the evaluation (a single ε).
        adaptive: wrap the checks' attacks in BPDA/EOT as the model needs.
        eot_samples: EOT draws when ``adaptive`` and the model is random.
        seed: seed of the checks' attacks (keyed per sample index).
        batch_size: samples attacked together.
    """

    model: nn.Module
    data: Samples
    threat: ThreatModel
    adaptive: bool = True
    eot_samples: int = EOT_SAMPLES
    seed: int = 0
    batch_size: int = 256

    def take(self, rows: Rows) -> tuple[Tensor, Tensor]:
        """The samples at ``rows``, the inputs as the model sees them (its dtype)."""
        x, y = self.data.take(rows)
        return model_input(self.model, x), y

    def broken(
        self, method: Attack, rows: Tensor, threat: ThreatModel | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The indices among ``rows`` that ``method`` broke, their distances, the
        adversarial examples and the model's logits at them (attacked a batch at a time)."""
        m = adapt(self.model, method, self.eot_samples) if self.adaptive else method
        th = self.threat if threat is None else threat
        found: list[tuple[Tensor, ...]] = []
        for start in range(0, rows.numel(), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            x, y = self.take(chunk)
            res = attack(self.model, x, y, th, m, seed=self.seed, index=chunk)
            hit = res.success
            found.append((chunk[hit], res.distance[hit], res.x_adv[hit], res.logits[hit]))
        if not found:
            x, _ = self.take([])
            empty = torch.zeros(0, device=x.device)
            return rows, empty, x, empty.reshape(0, 0)
        hits, dist, points, logits = (torch.cat(parts) for parts in zip(*found, strict=True))
        return hits, dist, points, logits


def check_probabilities(out: Tensor) -> MaskingFlag | None:
    """``probabilities``: the outputs are probabilities or log-probabilities, not logits."""
    if looks_like_probabilities(out):
        return MaskingFlag(
            "probabilities",
            "the model returns probabilities, not logits",
            "remove the final softmax; attack the logits (DLR/margin losses)",
        )
    if bool((out <= 0).all()) and bool((out.logsumexp(1).abs() < 1e-3).all()):
        return MaskingFlag(
            "probabilities",
            "the model returns log-probabilities, not logits",
            "remove the final log-softmax or use the margin/DLR loss (apgd-dlr)",
        )
    return None


def check_nondeterministic(out: Tensor, again: Tensor, declared: bool) -> MaskingFlag | None:
    """``nondeterministic``: two passes on the same inputs differ, randomness undeclared.

    Args:
        out, again: the outputs of two forward passes on the same inputs.
        declared: whether the attacks average over the model's randomness (EOT).
    """
    if torch.equal(out, again) or declared:
        return None
    return MaskingFlag(
        "nondeterministic",
        "two forward passes on the same inputs differ, and no layer is declared random",
        "EOT: mark the random layers with advkit.traits.mark_random "
        "(or run --adaptive, which applies EOT to the whole model)",
    )


def check_nan_gradients(grads: Tensor) -> MaskingFlag | None:
    """``nan-gradients``: some input gradients (one row per sample) are NaN or infinite."""
    n_nan = int((~grads.isfinite().all(1)).sum())
    if not n_nan:
        return None
    return MaskingFlag(
        "nan-gradients",
        f"{n_nan}/{grads.shape[0]} samples have NaN/inf input gradients",
        "BPDA through the layer producing them, or a decision-based attack",
    )


def check_zero_gradients(grads: Tensor, bpda_available: bool) -> MaskingFlag | None:
    """``zero-gradients``: over 10% of the input gradients are exactly zero (shattered).

    Args:
        grads: input gradients of correctly classified samples, one row per sample.
        bpda_available: whether the model's non-differentiable layers are advkit
            transforms (BPDA then only needs ``adaptive=True``).
    """
    n_zero = int((grads.isfinite().all(1) & (grads.abs().sum(1) == 0)).sum())
    if n_zero <= 0.1 * grads.shape[0]:
        return None
    return MaskingFlag(
        "zero-gradients",
        f"{n_zero}/{grads.shape[0]} correctly classified samples have an exactly "
        "zero input gradient (shattered gradients)",
        "BPDA: evaluate with adaptive=True (advkit's transforms support it)"
        if bpda_available
        else "BPDA: wrap the non-differentiable layer as an advkit InputTransform "
        "(FunctionTransform); meanwhile noise/black-box attacks (--adaptive)",
    )


def check_exploding_gradients(grads: Tensor) -> MaskingFlag | None:
    """``exploding-gradients``: some finite input gradients have ℓ1 norm above 1e6."""
    n_big = int((grads.isfinite().all(1) & (grads.abs().sum(1) > EXPLODING)).sum())
    if not n_big:
        return None
    return MaskingFlag(
        "exploding-gradients",
        f"{n_big}/{grads.shape[0]} samples have input gradients with ℓ1 norm > {EXPLODING:g}",
        "the margin/DLR loss (apgd-dlr) and BPDA for the unstable layer",
    )


def check_single_step(probe: Probe, rows: Tensor) -> MaskingFlag | None:
    """``single-step-stronger``: FGSM breaks some of ``rows``, the samples left robust."""
    hit, dist, points, logits = probe.broken(FGM(), rows)
    if not hit.numel():
        return None
    return MaskingFlag(
        "single-step-stronger",
        f"FGSM broke {hit.numel()} samples the iterative suite left robust (counted as broken)",
        "--adaptive (adds FGSM and random noise to the cascade); BPDA/EOT",
        tuple(hit.tolist()),
        tuple(dist.tolist()),
        points,
        logits,
    )


def check_noise(probe: Probe, rows: Tensor) -> MaskingFlag | None:
    """``noise-stronger``: random points of the ball break some of ``rows`` (robust ones)."""
    hit, dist, points, logits = probe.broken(RandomNoise(samples=20), rows)
    if not hit.numel():
        return None
    return MaskingFlag(
        "noise-stronger",
        f"random points of the ball broke {hit.numel()} samples the white-box suite "
        "left robust (counted as broken)",
        "--adaptive (adds random noise to the cascade); a black-box attack; BPDA/EOT",
        tuple(hit.tolist()),
        tuple(dist.tolist()),
        points,
        logits,
    )


def check_unbounded(probe: Probe, rows: Tensor) -> MaskingFlag | None:
    """``unbounded-not-broken``: PGD with ε covering the whole box breaks < 90% of ``rows``."""
    if not rows.numel():
        return None
    th = probe.threat
    size = 1.0 if th.p == float("inf") else probe.take([0])[0][0].numel()
    whole = th.with_eps(float(th.hi - th.lo) * size)
    n_unb = probe.broken(PGD(steps=50, restarts=1), rows, whole)[0].numel()
    if n_unb >= 0.9 * rows.numel():
        return None
    return MaskingFlag(
        "unbounded-not-broken",
        f"PGD with ε covering the whole box broke only {n_unb}/{rows.numel()} samples "
        "(expected ~100%)",
        "BPDA/EOT for the defense's layers; check the loss for saturation",
    )


def check_flat_curve(curve: list[tuple[float, float]] | None) -> MaskingFlag | None:
    """``flat-curve``: robust accuracy does not fall from ε to an ε at least twice as large.

    Args:
        curve: (ε, robust accuracy) pairs, increasing in ε.
    """
    if not curve or len(curve) < 2:
        return None
    (e0, a0), (e1, a1) = curve[0], curve[-1]
    if not (e0 > 0 and e1 >= 2 * e0 and a1 >= a0 and a0 > 0):
        return None
    return MaskingFlag(
        "flat-curve",
        f"robust accuracy stays {100 * a0:.1f}% from ε={e0:g} to ε={e1:g}",
        "BPDA/EOT; larger ε should eventually break every sample",
    )


def check_gradient_masking(
    model: nn.Module,
    data: tuple[Tensor, Tensor] | Samples,
    threat: ThreatModel,
    *,
    robust: Tensor | None = None,
    curve: list[tuple[float, float]] | None = None,
    adaptive: bool = True,
    eot_samples: int = EOT_SAMPLES,
    seed: int = 0,
    limit: int = 64,
    batch_size: int = 256,
) -> list[MaskingFlag]:
    """Run the gradient-masking checks on the samples and return the flags raised.

    Args:
        model: the classifier (returning logits).
        data: ``(x, y)``, inputs (N, ...) in the threat's box and labels (N,), or
            :class:`~advkit.data.samples.Samples` read a batch at a time.
        threat: the threat model of the evaluation (a single ε).
        robust: which samples the evaluation's suite left robust (N,) bool; default: the
            ones PGD-20 leaves robust.
        curve: the evaluation's (ε, robust accuracy) pairs, for the ``flat-curve`` check.
        adaptive: check the model as the evaluation attacked it (BPDA/EOT as needed).
        eot_samples: EOT draws when ``adaptive`` and the model is random.
        seed: seed of the checks' attacks.
        limit: at most this many samples for the costlier checks.
        batch_size: samples attacked together (FGSM runs on every robust sample).

    Returns:
        The flags raised, in the order of the module docstring; empty when nothing looks
        masked.
    """
    samples = Samples.of(data)
    probe = Probe(model, samples, threat, adaptive, eot_samples, seed, batch_size)
    first, _ = probe.take(range(min(limit, len(samples))))
    with eval_mode(model), torch.no_grad():
        out, again = model(first), model(first)
    outputs = check_probabilities(out)
    if outputs is not None:
        return [outputs]  # the attack checks would refuse probabilities
    grads = _correct_gradients(probe, out)
    rows = _robust_rows(probe, robust)
    single = check_single_step(probe, rows)
    flags = [
        check_nondeterministic(out, again, adaptive and is_random(model)),
        check_nan_gradients(grads),
        check_zero_gradients(grads, needs_bpda(model)),
        check_exploding_gradients(grads),
        single,
        check_noise(probe, _unbroken(rows, single)[:limit]),
        check_unbounded(probe, rows[: min(limit, 32)]),
        check_flat_curve(curve),
    ]
    return [f for f in flags if f is not None]


def _correct_gradients(probe: Probe, out: Tensor) -> Tensor:
    """Input gradients of the logit margin z_y − max_{j≠y} z_j, one row per sample among
    the first ``len(out)`` that the model classifies correctly."""
    x, y = probe.take(range(out.shape[0]))
    correct = (out.argmax(1) == y).nonzero().squeeze(1)
    if not correct.numel():
        return torch.zeros(0, x[0].numel(), device=x.device)
    xg = x[correct].detach().clone().requires_grad_(True)
    model = probe.model
    with eval_mode(model), bpda(probe.adaptive and needs_bpda(model)), torch.enable_grad():
        (g,) = torch.autograd.grad(margin(model(xg), y[correct]).sum(), xg)
    return g.reshape(g.shape[0], -1)


def _robust_rows(probe: Probe, robust: Tensor | None) -> Tensor:
    """Indices of the robust samples; without ``robust``, those PGD-20 leaves robust."""
    if robust is not None:
        return robust.nonzero().squeeze(1)
    correct = []
    with eval_mode(probe.model), torch.no_grad():
        for _, x, y in probe.data.batches(probe.batch_size):
            correct.append(probe.model(model_input(probe.model, x)).argmax(1) == y)
    rows = torch.cat(correct).nonzero().squeeze(1)
    hit = probe.broken(PGD(steps=20, restarts=1), rows)[0]
    return rows[~torch.isin(rows, hit)]


def _unbroken(rows: Tensor, flag: MaskingFlag | None) -> Tensor:
    """``rows`` without the samples ``flag`` found adversarial examples for."""
    if flag is None:
        return rows
    return rows[~torch.isin(rows, torch.tensor(flag.samples, dtype=rows.dtype, device=rows.device))]
