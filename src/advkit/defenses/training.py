"""Robust training: the outer minimization of min_θ E[max_{δ∈Δ} ℓ(h_θ(x+δ), y)].

:func:`adversarial_loss` solves the inner maximization with any advkit attack and returns
the loss at the attack's point. By Danskin's theorem the gradient of the inner max with
respect to θ is the gradient of ℓ at the maximizer, so the attack point is treated as a
constant (no gradient flows through the attack). It drops into any training loop.

The training methods below are frozen configs with one method,
``loss(model, x, y, threat, index, seed) -> (N,)``, the per-sample training loss in the
model's current (training) mode; :func:`advkit.train` runs them.

Attacks stop on a sample as soon as it is misclassified (advkit's per-sample early
stopping), so PGD training here is the early-stopped variant (Zhang et al. 2020, "Attacks
which do not kill training make adversarial learning stronger"), which costs at most
k + 1 gradient calls per sample for PGD-k.

Papers: Goodfellow et al. 2015 (FGSM training); Madry et al. 2018 (PGD training);
Wong, Rice & Kolter 2020 (fast FGSM with random start); Zhang et al. 2019 (TRADES);
Sharma 2018, Table 7 (joint training on EAD and C&W examples).

Example:
    >>> import torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    >>> x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    >>> loss = advkit.adversarial_loss(model, x, y, advkit.Linf(0.1), advkit.PGD(steps=5))
    >>> loss.shape
    torch.Size([])
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.attacks.cw import CW
from advkit.attacks.ead import EAD
from advkit.attacks.gradient import FGM, PGD
from advkit.attacks.run import Attack, attack
from advkit.engine.rng import generator, stream
from advkit.threat import L2, ThreatModel

__all__ = [
    "TRADES",
    "FGSMTraining",
    "FastFGSM",
    "MinimalDistortionTraining",
    "PGDTraining",
    "Standard",
    "TrainingMethod",
    "adversarial_examples",
    "adversarial_loss",
    "attacking",
]


def attacking(model: nn.Module) -> AbstractContextManager[None]:
    """Eval mode while an attack runs inside training; each ``.training`` flag restored."""
    return eval_mode(model, warn=False)


def adversarial_examples(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Attack,
    *,
    seed: int = 0,
    index: Tensor | None = None,
) -> Tensor:
    """The attack's points for (x, y), computed in eval mode, detached (N, ...)."""
    with attacking(model):
        return attack(model, x, y, threat, method, seed=seed, index=index).x_adv.detach()


def adversarial_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Attack,
    *,
    seed: int = 0,
    index: Tensor | None = None,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> Tensor:
    """Cross-entropy at the attack's point: a lower bound of the robust loss (Danskin).

    The inner maximization runs with ``method`` (any advkit attack) in eval mode, with the
    model's ``.training`` flags restored afterwards; the returned loss is computed in the
    model's own mode, so its gradient with respect to the parameters is the gradient of
    ℓ(h_θ(x_adv), y) with x_adv held fixed.

    Args:
        model: the classifier being trained (returning logits).
        x: inputs (N, ...) in the threat's box; y: labels (N,).
        threat: the perturbation set, e.g. ``Linf(0.1)``.
        method: the attack solving the inner max, e.g. ``PGD(steps=7, restarts=1)``.
        seed: seed of the attack's random choices (vary it between epochs).
        index: dataset index of each sample (keys its random stream); default arange(N).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-sample, shape (N,)).

    Returns:
        The loss: a scalar, or (N,) with ``reduction="none"``.

    Example:
        >>> import torch, advkit
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
        >>> loss = advkit.adversarial_loss(model, x, y, advkit.Linf(0.1), advkit.FGM())
        >>> loss.backward()
    """
    x_adv = adversarial_examples(model, x, y, threat, method, seed=seed, index=index)
    return F.cross_entropy(model(x_adv), y.long(), reduction=reduction)


class TrainingMethod(Protocol):
    """A way to do the outer minimization: a frozen config with a per-sample loss."""

    name: ClassVar[str]
    needs_threat: ClassVar[bool]

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor: ...


@dataclass(frozen=True)
class Standard:
    """Standard (natural) training: cross-entropy on clean inputs."""

    name: ClassVar[str] = "standard"
    needs_threat: ClassVar[bool] = False

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        return F.cross_entropy(model(x), y, reduction="none")


@dataclass(frozen=True)
class FGSMTraining:
    """FGSM adversarial training (Goodfellow et al. 2015): mix of clean and FGSM losses.

    Args:
        clean_weight: weight α of the clean loss; the FGSM loss gets 1 − α (default 0.5,
            as in the paper).
    """

    clean_weight: float = 0.5

    name: ClassVar[str] = "fgsm"
    needs_threat: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.clean_weight <= 1.0:
            raise ValueError(f"clean_weight must be in [0, 1], got {self.clean_weight}")

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        adv = adversarial_loss(model, x, y, threat, FGM(), seed=seed, index=index, reduction="none")
        if self.clean_weight == 0.0:
            return adv
        clean = F.cross_entropy(model(x), y, reduction="none")
        return self.clean_weight * clean + (1.0 - self.clean_weight) * adv


@dataclass(frozen=True)
class PGDTraining:
    """PGD adversarial training (Madry et al. 2018): loss at a PGD-k point, random start.

    Args:
        steps: PGD steps k (default 7); at most k + 1 gradient calls per sample.
        rel_step: step size as a fraction of ε (default: :class:`~advkit.PGD`'s, 2.5 /
            steps, or a linear decay from ε to ε / steps under L2).
    """

    steps: int = 7
    rel_step: float | None = None

    name: ClassVar[str] = "pgd"
    needs_threat: ClassVar[bool] = True

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        method = PGD(steps=self.steps, restarts=1, rel_step=self.rel_step)
        return adversarial_loss(
            model, x, y, threat, method, seed=seed, index=index, reduction="none"
        )


@dataclass(frozen=True)
class FastFGSM:
    """Fast adversarial training (Wong, Rice & Kolter 2020): FGSM from a random start.

    One step of size α·ε (default α = 1.25) from a uniform point of the ball: about two
    forward-backward passes per sample instead of PGD-k's k + 1.

    Args:
        alpha: step size as a fraction of ε (default 1.25, the paper's choice).
    """

    alpha: float = 1.25

    name: ClassVar[str] = "fast"
    needs_threat: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        method = PGD(steps=1, restarts=1, rel_step=self.alpha)
        return adversarial_loss(
            model, x, y, threat, method, seed=seed, index=index, reduction="none"
        )


@dataclass(frozen=True)
class TRADES:
    """TRADES (Zhang et al. 2019): CE(f(x), y) + β·KL(f(x) ‖ f(x')), x' maximizing the KL.

    The inner max runs ``steps`` projected sign/steepest-ascent steps on the KL divergence
    from x + 0.001·N(0, I) (noise drawn per sample from (seed, index)); it does not stop
    early, since the KL has no success criterion.

    Args:
        beta: weight of the robustness term (default 6.0, the paper's CIFAR/MNIST choice).
        steps: inner steps (default 10).
        rel_step: step size as a fraction of ε (default 2.5 / steps).
    """

    beta: float = 6.0
    steps: int = 10
    rel_step: float | None = None

    name: ClassVar[str] = "trades"
    needs_threat: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.beta < 0 or self.steps < 1:
            raise ValueError("TRADES needs beta >= 0 and steps >= 1")

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        x_adv = self._inner_max(model, x, threat, index, seed)
        logits = model(x)
        kl = F.kl_div(
            F.log_softmax(model(x_adv), dim=1),
            F.log_softmax(logits, dim=1),
            reduction="none",
            log_target=True,
        ).sum(dim=1)
        return F.cross_entropy(logits, y, reduction="none") + self.beta * kl

    def _inner_max(
        self, model: nn.Module, x: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        x0 = x.detach()
        gens = [generator(seed, k, stream("trades-start")) for k in index.tolist()]
        noise = torch.stack([torch.randn(x0[0].shape, generator=g, device=g.device) for g in gens])
        noise = noise.to(x0)  # drawn on the CPU per sample, moved once
        alpha = threat.radius(x0) * (self.rel_step or 2.5 / self.steps)
        with attacking(model):
            with torch.no_grad():
                p_clean = F.log_softmax(model(x0), dim=1)
            xa = threat.project(x0 + 0.001 * noise, x0)
            for _ in range(self.steps):
                xg = xa.detach().requires_grad_(True)
                with torch.enable_grad():
                    kl = F.kl_div(
                        F.log_softmax(model(xg), dim=1),
                        p_clean,
                        reduction="sum",
                        log_target=True,
                    )
                    (g,) = torch.autograd.grad(kl, xg)
                xa = threat.project(xa + alpha * threat.ascent(g, xa), x0)
        return xa.detach()


# C&W without tanh: with 50 steps, tanh C&W barely moves the many MNIST pixels at exactly
# 0 or 1 (its gradients vanish there; Sharma 2018) and found 6% of LeNet5's examples.
_JOINT_ATTACKS: tuple[Attack, ...] = (
    CW(steps=50, search_steps=3, initial_const=0.1, tanh=False),
    EAD(rule="l1", steps=50, search_steps=3, initial_const=0.1),
)


@dataclass(frozen=True)
class MinimalDistortionTraining:
    """Training on minimal-distortion examples: clean + C&W + EAD (Sharma 2018, Table 7).

    Each batch's examples are crafted by every attack in ``attacks`` with no distance
    cap (``L2(inf)``: the attacks find the *least* distortion that fools the current
    model), and the loss is the mean of the clean cross-entropy and the cross-entropy at
    each attack's points. The default pairs C&W L2 with EAD (L1 rule), whose L1 examples
    complement L2 ones in Sharma's experiments. The training threat is not used.

    Args:
        attacks: the minimal-distortion attacks (default short projected C&W and EAD-L1
            runs: 3 values of c × 50 steps from c = 0.1).
    """

    attacks: tuple[Attack, ...] = _JOINT_ATTACKS

    name: ClassVar[str] = "joint"
    needs_threat: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.attacks:
            raise ValueError("MinimalDistortionTraining needs at least one attack")
        for a in self.attacks:
            if not a.describe().minimal:
                raise ValueError(
                    f"{type(a).__name__} is not a minimal-distortion attack; use CW, EAD, "
                    "DeepFool, ... (or PGDTraining for attacks within a fixed ε)"
                )

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        free = L2(math.inf)
        losses = [F.cross_entropy(model(x), y, reduction="none")]
        for k, method in enumerate(self.attacks):
            x_adv = adversarial_examples(model, x, y, free, method, seed=seed + k, index=index)
            losses.append(F.cross_entropy(model(x_adv), y, reduction="none"))
        return torch.stack(losses).mean(dim=0)
