"""Training methods beyond adversarial examples: gradient-norm regularization, defensive
distillation, and ensemble adversarial training.

- :class:`GradientNorm` (Finlay & Oberman 2019, "Scaleable input gradient regularization
  for adversarial robustness"): CE + λ·E‖∇ₓℓ‖_* + μ·max_batch ‖∇ₓℓ‖_*, with ‖·‖_* the
  dual norm of the threat (ℓ1 for L∞), since to first order the loss can grow by
  ε‖∇ₓℓ‖_* inside the ball. The max term penalizes the largest gradient norm of the batch
  (a total-variation-style bound on the loss's variation). Uses double back-propagation.
- :class:`Distillation` (Papernot et al. 2016): train at temperature T on the teacher's
  soft labels softmax(teacher(x)/T) (or on hard labels to train the teacher). A distilled
  network's logits are scaled up by ≈T at test time, which saturates the softmax and
  *masks* cross-entropy gradients: it is known not to be robust (Carlini & Wagner 2017),
  and advkit's margin-based attacks and checks are meant to show it.
- :class:`EnsembleAdversarial` (Tramèr et al. 2018): half clean, half adversarial loss,
  the FGSM examples of each batch crafted on the model itself or on one of several fixed
  pre-trained models, chosen per batch.

Example:
    >>> import torch, advkit
    >>> from advkit.defenses.regularizers import GradientNorm
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> GradientNorm(0.1).loss(model, x, y, advkit.Linf(0.1), torch.arange(4), 0).shape
    torch.Size([4])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.attacks.gradient import FGM
from advkit.attacks.run import attack
from advkit.defenses.training import attacking
from advkit.engine.rng import mix, stream
from advkit.threat import ThreatModel

__all__ = ["Distillation", "EnsembleAdversarial", "GradientNorm"]


@dataclass(frozen=True)
class GradientNorm:
    """Input-gradient regularization: CE + λ·‖∇ₓℓ‖_* + μ·max over the batch.

    Args:
        lam: weight λ of each sample's dual-norm gradient penalty (default 0.1).
        max_weight: weight μ of the batch's largest gradient norm (default 0.0).
    """

    lam: float = 0.1
    max_weight: float = 0.0

    name: ClassVar[str] = "gradnorm"
    needs_threat: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.lam < 0 or self.max_weight < 0:
            raise ValueError("lam and max_weight must be >= 0")

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        xg = x.detach().clone().requires_grad_(True)
        ce = F.cross_entropy(model(xg), y, reduction="none")
        (g,) = torch.autograd.grad(ce.sum(), xg, create_graph=True)
        norm = threat.dual_norm(g)
        return ce + self.lam * norm + self.max_weight * norm.max()


@dataclass(frozen=True, eq=False)
class Distillation:
    """Defensive distillation at temperature T (Papernot et al. 2016).

    Args:
        teacher: the model whose soft labels softmax(teacher(x)/T) are the targets; None
            trains on hard labels at temperature T (how the teacher itself is trained).
        temperature: T (default 20, the paper's MNIST choice).
    """

    teacher: nn.Module | None = None
    temperature: float = 20.0

    name: ClassVar[str] = "distill"
    needs_threat: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        t = self.temperature
        log_p = F.log_softmax(model(x) / t, dim=1)
        if self.teacher is None:
            return F.nll_loss(log_p, y, reduction="none")
        with attacking(self.teacher), torch.no_grad():
            soft = F.softmax(self.teacher(x) / t, dim=1)
        return -(soft * log_p).sum(dim=1)


@dataclass(frozen=True, eq=False)
class EnsembleAdversarial:
    """Ensemble adversarial training (Tramèr et al. 2018): FGSM examples from the model
    or from fixed pre-trained models, chosen per batch; loss ½ clean + ½ adversarial.

    Args:
        static: the fixed pre-trained models (at least one).
    """

    static: tuple[nn.Module, ...]

    name: ClassVar[str] = "ensemble"
    needs_threat: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not self.static:
            raise ValueError("ensemble adversarial training needs at least one static model")

    def source(self, index: Tensor, seed: int) -> int:
        """Which model crafts this batch's examples: 0 is the trained model itself."""
        return mix(seed, int(index[0]), stream("ensemble-source")) % (len(self.static) + 1)

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, index: Tensor, seed: int
    ) -> Tensor:
        k = self.source(index, seed)
        crafter = model if k == 0 else self.static[k - 1]
        with attacking(crafter):
            x_adv = attack(crafter, x, y, threat, FGM(), seed=seed, index=index).x_adv.detach()
        clean = F.cross_entropy(model(x), y, reduction="none")
        return 0.5 * clean + 0.5 * F.cross_entropy(model(x_adv), y, reduction="none")
