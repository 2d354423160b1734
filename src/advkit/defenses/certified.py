"""Certified training as an :func:`advkit.train` method: IBP and CROWN-IBP with ramps.

Problem solved: train a network whose robustness can be *proved* afterwards by
:func:`advkit.certify`, not only one that resists the attacks tried. The loss is
:func:`advkit.certify.training.certified_loss`: κ·CE(z(x), y) + (1 − κ)·CE(−m, y), with
m_j ≤ z_y − z_j lower bounds of the margins over the ε-ball, differentiable in the
parameters. Two bounds:

- ``"ibp"``: interval bounds (Gowal et al. 2018, "On the effectiveness of interval bound
  propagation for training verifiably robust models");
- ``"crown-ibp"``: m = β·m_CROWN-IBP + (1 − β)·m_IBP, a CROWN backward pass over IBP's
  intermediate bounds, with β going from 1 to ``beta_final`` during the ε ramp (Zhang et
  al. 2020, "Towards stable and efficient training of verifiably robust neural networks").

Schedules (in epochs, fractional within an epoch, as in both papers): ``warmup`` epochs of
natural training (ε = 0, κ = 1), then ε grows linearly from 0 to the threat's ε over
``ramp`` epochs while κ goes from 1 to ``kappa_final`` (and β from 1 to ``beta_final``),
then both stay. :func:`advkit.train` positions the method on the schedule before every
step (through :meth:`CertifiedTraining.at`) and logs the certified accuracy of every
epoch (IBP and CROWN on the held-out data, at the full ε).

Threat models: L∞ (the papers' setting), L2 and L1 through the bounds' support function.
Layers: those :func:`advkit.certify.graph.trace` supports; no BatchNorm in training mode
(use eval-mode BatchNorm or none) and no Dropout.

Example:
    >>> import torch, advkit
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32),
    ...                           torch.nn.ReLU(), torch.nn.Linear(32, 10))
    >>> x, y = torch.rand(64, 1, 4, 4), torch.randint(0, 10, (64,))
    >>> hist = advkit.train(net, (x, y), advkit.CertifiedTraining("ibp"), advkit.Linf(0.05),
    ...                     epochs=2, eval_data=(x, y), progress=False)
    >>> sorted(k for k in hist[-1] if "certified" in k)
    ['certified_accuracy', 'crown_certified_accuracy', 'ibp_certified_accuracy']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from torch import Tensor, nn

from advkit.certify.training import certified_loss
from advkit.threat import ThreatModel

__all__ = ["CertifiedTraining"]

BOUNDS = ("ibp", "crown-ibp")


@dataclass(frozen=True)
class CertifiedTraining:
    """IBP or CROWN-IBP certified training with ε, κ (and β) ramps.

    Args:
        bound: ``"ibp"`` or ``"crown-ibp"`` (default).
        kappa_final: weight of the clean loss after the ramp (default 0.5, Gowal et al.;
            Zhang et al. also use 0).
        beta_final: CROWN-IBP's weight of the CROWN bound after the ramp (default 0,
            the paper's choice; ignored for IBP).
        warmup: epochs of natural training before the ramp (default: 10% of the run).
        ramp: epochs over which ε goes from 0 to the threat's ε (default: 40% of the run).
        position: (epochs done, total epochs), set by :meth:`at`; None means the end of
            the schedule (full ε, κ = ``kappa_final``), for use outside :func:`advkit.train`.
    """

    bound: Literal["ibp", "crown-ibp"] = "crown-ibp"
    kappa_final: float = 0.5
    beta_final: float = 0.0
    warmup: float | None = None
    ramp: float | None = None
    position: tuple[float, int] | None = None

    name: ClassVar[str] = "certified"
    needs_threat: ClassVar[bool] = True
    certifies: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.bound not in BOUNDS:
            raise ValueError(f"bound must be one of {BOUNDS}, got {self.bound!r}")
        for what, v in (("kappa_final", self.kappa_final), ("beta_final", self.beta_final)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{what} must be in [0, 1], got {v}")
        for what, w in (("warmup", self.warmup), ("ramp", self.ramp)):
            if w is not None and w < 0:
                raise ValueError(f"{what} must be >= 0 epochs, got {w}")

    def at(self, epoch: float, epochs: int) -> CertifiedTraining:
        """This method positioned after ``epoch`` (fractional) of ``epochs`` epochs."""
        return replace(self, position=(float(epoch), int(epochs)))

    def schedule(self) -> dict[str, float]:
        """``eps_scale`` (fraction of the threat's ε), ``kappa`` and ``beta`` now."""
        if self.position is None:
            t, warm, length = 1.0, 0.0, 0.0
        else:
            t, epochs = self.position
            warm = self.warmup if self.warmup is not None else 0.1 * epochs
            length = self.ramp if self.ramp is not None else 0.4 * epochs
        step = 1.0 if t >= warm else 0.0  # a zero-length ramp is a step at the warmup's end
        frac = min(max((t - warm) / length, 0.0), 1.0) if length > 0 else step
        kappa = 1.0 + frac * (self.kappa_final - 1.0)
        beta = 1.0 + frac * (self.beta_final - 1.0) if self.bound == "crown-ibp" else 0.0
        eps_scale = frac
        return {"eps_scale": eps_scale, "kappa": kappa, "beta": beta}

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        """Per-sample certified loss (N,) at the current point of the schedule."""
        s = self.schedule()
        if s["eps_scale"] == 0.0:
            return certified_loss(model, x, y, threat, kappa=1.0, reduction="none")
        scaled = threat.with_eps(threat.eps * s["eps_scale"])
        return certified_loss(
            model, x, y, scaled, kappa=s["kappa"], beta=s["beta"], reduction="none"
        )
