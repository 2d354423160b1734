"""Model traits: what an honest attack must know about a model, declared by its layers.

Two traits of a layer decide how its model must be attacked (Athalye, Carlini & Wagner
2018, "Obfuscated gradients give a false sense of security"):

- ``differentiable``: whether autograd gives a useful input gradient through the layer.
  A non-differentiable layer (quantization, JPEG, numpy code) reports a **zero** input
  gradient; attacks cross it with BPDA (Backward Pass Differentiable Approximation),
  back-propagating through the layer's ``approximation`` (identity by default) instead.
- ``random``: whether the layer's output depends on random draws; attacks average over
  them (EOT, Expectation over Transformation).

A layer declares its traits by subclassing :class:`Traits` (advkit's input transforms in
:mod:`advkit.defenses.transforms` do); any module can be declared random with
:func:`mark_random`. Attacks ask :func:`needs_bpda` and :func:`is_random`, never the
defenses. Inside :func:`bpda` (entered by :class:`advkit.access.BPDAView` around each
model evaluation), non-differentiable layers back-propagate through their approximation:
the layer computes its output with :func:`surrogate_output`, which reads the switch.

A detector guarding a model declares :class:`DetectorLike`, the part of a detector that
:class:`advkit.access.GuardedView` evaluates.

Example:
    >>> import torch
    >>> from advkit.traits import Traits, bpda, needs_bpda, surrogate_output
    >>> class Round(Traits, torch.nn.Module):
    ...     differentiable = False
    ...     def forward(self, x):
    ...         with torch.no_grad():
    ...             exact = x.round()
    ...         return surrogate_output(self, x, exact)
    >>> layer, x = Round(), torch.rand(3, requires_grad=True)
    >>> needs_bpda(torch.nn.Sequential(layer))
    True
    >>> layer(x).sum().backward()
    >>> x.grad.tolist()  # the gradient is masked
    [0.0, 0.0, 0.0]
    >>> with bpda():
    ...     layer(x).sum().backward()
    >>> x.grad.tolist()  # BPDA: the identity's gradient
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ClassVar, Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = [
    "DetectorLike",
    "Traits",
    "bpda",
    "bpda_active",
    "is_random",
    "mark_random",
    "needs_bpda",
    "surrogate_output",
]

# The BPDA switch is scoped like torch.no_grad: set by `bpda` for the code inside the
# block, in the current thread or task only, and reset on exit.
_BPDA: ContextVar[bool] = ContextVar("advkit_bpda", default=False)


class Traits:
    """Mixin of a layer (an ``nn.Module``) declaring its traits; the defaults are a plain
    layer's: differentiable, deterministic.

    Subclasses set ``differentiable = False`` when autograd gives no useful gradient
    (then compute the output with :func:`surrogate_output`), ``random = True`` when the
    output depends on random draws, and may override :meth:`approximation`.
    """

    differentiable: ClassVar[bool] = True
    random: ClassVar[bool] = False

    def approximation(self, x: Tensor) -> Tensor:
        """A differentiable g(x) ≈ layer(x) whose gradient BPDA uses (identity)."""
        return x


@runtime_checkable
class DetectorLike(Protocol):
    """A calibrated detector guarding ``model``: it flags x when ``score(x) > threshold``.

    ``score`` must keep the autograd graph when x requires a gradient (adaptive attacks
    differentiate it).
    """

    model: nn.Module
    threshold: float

    @property
    def calibrated(self) -> bool:
        """Whether ``threshold`` has been set on clean data."""
        ...

    def score(self, x: Tensor) -> Tensor:
        """The per-sample detection score (N,); larger means more suspicious."""
        ...


@contextmanager
def bpda(enabled: bool = True) -> Iterator[None]:
    """Within this block, non-differentiable layers back-propagate through their
    differentiable approximation (BPDA) instead of reporting a zero gradient."""
    token = _BPDA.set(enabled)
    try:
        yield
    finally:
        _BPDA.reset(token)


def bpda_active() -> bool:
    """Whether the code runs inside :func:`bpda`."""
    return _BPDA.get()


def surrogate_output(layer: Traits, x: Tensor, exact: Tensor) -> Tensor:
    """The output ``exact`` of a non-differentiable ``layer`` at ``x``, with its gradient.

    Outside :func:`bpda` the gradient is zero (what autograd reports for quantization);
    inside, it is the gradient of ``layer.approximation`` at x, the value staying
    ``exact`` (the straight-through form ``g(x) + (exact - g(x)).detach()``).

    Args:
        layer: the layer declaring the approximation.
        x: the layer's input (with or without a graph).
        exact: the layer's output, computed without a graph.
    """
    if bpda_active():
        approx = layer.approximation(x)
        return approx + (exact - approx).detach()
    return exact + 0.0 * (x - x.detach())


def mark_random(module: nn.Module) -> nn.Module:
    """Declare that ``module``'s forward pass is random, so evaluation applies EOT."""
    module.advkit_random = True  # type: ignore[assignment]
    return module


def is_random(model: nn.Module) -> bool:
    """Whether any submodule declares ``random`` or was marked with :func:`mark_random`."""
    return any(
        (isinstance(m, Traits) and m.random) or getattr(m, "advkit_random", False)
        for m in model.modules()
    )


def needs_bpda(model: nn.Module) -> bool:
    """Whether any submodule declares itself non-differentiable."""
    return any(isinstance(m, Traits) and not m.differentiable for m in model.modules())
