"""The adaptive re-evaluation that gradient-masking flags call for.

When :func:`advkit.evaluate`'s checks raise flags, the remedy they name is to evaluate
again with attacks that do not trust the gradients: FGSM and uniform random noise join
the cascade (they broke samples the suite left robust, or would catch shattered
gradients), and a model whose outputs vary between calls is treated as random so that
every attack averages over its randomness (EOT, Athalye, Carlini & Wagner 2018).
``advkit evaluate --adaptive`` runs this.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.followup import adaptive_rerun
    >>> from advkit.evaluate.sanity import MaskingFlag
    >>> model = torch.nn.Linear(4, 3)
    >>> flags = [MaskingFlag("nondeterministic", "outputs differ", "EOT")]
    >>> rerun, suite = adaptive_rerun(model, flags, "fast", "linf")
    >>> [name for name, _ in suite]
    ['apgd-ce', 'fgsm', 'noise']
    >>> rerun is model
    False
"""

from __future__ import annotations

from torch import Tensor, nn

from advkit.attacks.gradient import FGM
from advkit.attacks.noise import RandomNoise
from advkit.evaluate.sanity import MaskingFlag
from advkit.evaluate.suites import Suite, get_suite
from advkit.traits import mark_random

__all__ = ["DeclaredRandom", "adaptive_rerun", "adaptive_suite"]


class DeclaredRandom(nn.Module):
    """``model``, declared random so that evaluation applies EOT, without marking it.

    Args:
        model: the classifier whose forward pass is random (the caller's module is left
            as it is).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.training = model.training  # the wrapper's own flag; the model's are left alone
        mark_random(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def adaptive_suite(suite: str | Suite, norm: str) -> Suite:
    """``suite`` (for the threat model called ``norm``) with FGSM and random noise added."""
    return [*get_suite(suite, norm), ("fgsm", FGM()), ("noise", RandomNoise())]


def adaptive_rerun(
    model: nn.Module, flags: list[MaskingFlag], suite: str | Suite, norm: str
) -> tuple[nn.Module, Suite]:
    """The model and suite to evaluate again with after ``flags`` were raised.

    Args:
        model: the evaluated classifier.
        flags: the flags of its evaluation.
        suite: the evaluation's suite (a name or (name, attack) pairs).
        norm: the threat model's name, e.g. ``"linf"``.

    Returns:
        ``model`` (wrapped in :class:`DeclaredRandom` when a ``nondeterministic`` flag
        was raised) and :func:`adaptive_suite` of ``suite``.
    """
    if any(flag.check == "nondeterministic" for flag in flags):
        model = DeclaredRandom(model)
    return model, adaptive_suite(suite, norm)
