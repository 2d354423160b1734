"""The identity of a model's function, to tie stored evaluation results to it.

Equal weights do not make equal models: ``nn.Tanh`` for ``nn.ReLU``, average for max
pooling or ``BitDepth(6)`` for ``BitDepth(1)`` keep the state dict and change every
prediction. A :class:`ModelIdentity` therefore combines

- the weights: every parameter and buffer (names, shapes, dtypes, bytes);
- the layers: every module's class, ``extra_repr``, settings (the attributes in its
  ``__dict__`` that are not parameters, buffers or children, e.g. ``BitDepth.bits``, a
  ``FunctionTransform``'s function and closure) and forward hooks;
- the outputs on a fixed probe batch (:data:`PROBE` inputs drawn uniformly in the input
  box with a fixed seed), which catch what the first two miss (a changed global, a class
  attribute). Random models (:func:`advkit.traits.is_random`) give other outputs on
  every call, so their identity rests on the weights and layers alone, and a random model
  with a setting advkit cannot describe has no identity (``unknown`` says why).

Example:
    >>> import torch
    >>> from advkit.evaluate.fingerprint import model_identity
    >>> relu = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())
    >>> tanh = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Tanh())
    >>> tanh.load_state_dict(relu.state_dict())
    <All keys matched successfully>
    >>> like = torch.rand(3, 4)
    >>> model_identity(relu, like).key == model_identity(tanh, like).key
    False
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import math
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.traits import is_random

__all__ = ["PROBE", "DigestStream", "ModelIdentity", "model_identity", "tensor_digest"]

PROBE = 4
"""Inputs in the probe batch."""

_DEPTH = 6  # how deep settings are described (objects inside objects)
_BUDGET = 10_000  # how many values of settings are described at most
_PLAIN: tuple[type, ...] = (type(None), bool, int, float, complex, str, bytes, enum.Enum)
_PLAIN += (torch.dtype, torch.device, torch.Size)  # all described by their repr
_HOOKS = ("_forward_hooks", "_forward_pre_hooks")  # bookkeeping that changes the function


@dataclass(frozen=True)
class ModelIdentity:
    """What ties results to a model's function.

    Attributes:
        key: a hash of the weights and layers (and the reason when ``unknown``).
        outputs: the logits on the probe batch (flattened), or None for a random model.
        unknown: why the identity cannot be established (then results are never reused);
            None when it can.
    """

    key: str
    outputs: tuple[float, ...] | None
    unknown: str | None = None
    tolerance: float = 1e-4

    def same_outputs(self, other: tuple[float, ...] | None) -> bool:
        """Whether ``other`` (stored outputs) equal these up to float rounding.

        The tolerance, a fraction of the largest logit (1e-4, or 4 units of the last
        place of a coarser output dtype such as bf16), absorbs another thread count or
        device's summation order; another function moves the logits far more.
        """
        if self.outputs is None or other is None:
            return self.outputs is other
        if len(self.outputs) != len(other):
            return False
        scale = max([1.0, *(abs(v) for v in other if math.isfinite(v))])
        a, b = torch.tensor(self.outputs), torch.tensor(other)
        return torch.allclose(a, b, rtol=0.0, atol=self.tolerance * scale, equal_nan=True)


def tensor_digest(*tensors: Tensor) -> str:
    """A short hash of tensors' shapes, dtypes and bytes (any dtype, bf16 included)."""
    digest = DigestStream()
    for t in tensors:
        t = _plain(t)
        digest.begin(tuple(t.shape), t.dtype)
        digest.add(t)
    return digest.hexdigest()


class DigestStream:
    """:func:`tensor_digest` of tensors fed in pieces: ``begin`` a tensor with its whole
    shape and dtype, ``add`` its rows in order (a batch at a time), then the next tensor.

    Example:
        >>> import torch
        >>> x = torch.arange(6.0).reshape(3, 2)
        >>> d = DigestStream()
        >>> d.begin((3, 2), x.dtype)
        >>> d.add(x[:2]); d.add(x[2:])
        >>> d.hexdigest() == tensor_digest(x)
        True
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def begin(self, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        """Start a tensor of ``shape`` and ``dtype``."""
        self._hash.update(f"{tuple(shape)}{dtype}".encode())

    def add(self, rows: Tensor) -> None:
        """The next rows of the current tensor."""
        rows = _plain(rows)
        self._hash.update(rows.reshape(-1).contiguous().view(torch.uint8).cpu().numpy().data)

    def hexdigest(self) -> str:
        """The short hash of everything fed."""
        return self._hash.hexdigest()[:16]


def _plain(t: Tensor) -> Tensor:
    """``t`` detached, dequantized and dense."""
    t = t.detach()
    if t.is_quantized:
        t = t.dequantize()
    return t.to_dense() if t.layout != torch.strided else t


def model_identity(
    model: nn.Module, like: Tensor, lo: float = 0.0, hi: float = 1.0
) -> ModelIdentity:
    """The identity of ``model``'s function on inputs shaped like ``like`` in ``[lo, hi]``.

    Args:
        model: the classifier.
        like: a batch of inputs (its per-sample shape, dtype and device make the probe).
        lo: lower bound of the input box.
        hi: upper bound of the input box.
    """
    describer = _Describer()
    layers = hashlib.sha256("".join(describer.layers(model, _DEPTH)).encode())
    key = f"{_weights(model)}-{layers.hexdigest()[:16]}"
    if is_random(model):
        if describer.opaque:
            what = ", ".join(sorted(set(describer.opaque)))
            reason = f"it is random and advkit cannot describe the settings of {what}"
            return ModelIdentity(f"unidentified: {reason}", None, reason)
        return ModelIdentity(key, None)
    try:
        out = _probe_outputs(model, like, lo, hi)
    except (RuntimeError, ValueError, TypeError) as err:
        reason = f"it fails on the probe batch ({err})"
        return ModelIdentity(f"unidentified: {reason}", None, reason)
    ulp = torch.finfo(out.dtype).eps if out.is_floating_point() else 0.0
    outputs = tuple(out.float().cpu().reshape(-1).tolist())
    return ModelIdentity(key, outputs, tolerance=max(1e-4, 4 * ulp))


def _probe_outputs(model: nn.Module, like: Tensor, lo: float, hi: float) -> Tensor:
    """The logits on :data:`PROBE` seeded uniform inputs in the box, in eval mode.

    The CPU RNG is seeded inside a fork, so a model drawing from it (without declaring
    itself random) gives the same outputs every time, and the caller's RNG is untouched.
    """
    u = torch.rand(PROBE, *like.shape[1:], generator=torch.Generator().manual_seed(0))
    probe = (lo + (hi - lo) * u).to(device=like.device, dtype=like.dtype)
    with torch.random.fork_rng(devices=[]), eval_mode(model, warn=False), torch.no_grad():
        torch.default_generator.manual_seed(0)
        out = model(probe)
    if not isinstance(out, Tensor):
        raise TypeError(f"the model returned {type(out).__name__}, not a tensor")
    return out.detach()


def _weights(model: nn.Module) -> str:
    """A hash of every parameter and buffer, with their names."""
    named = [*model.named_parameters(), *model.named_buffers()]
    names = hashlib.sha256(repr([n for n, _ in named]).encode()).hexdigest()[:8]
    return tensor_digest(*(t for _, t in named)) + names


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class _Describer:
    """Describes modules' settings as stable text, noting what it cannot describe.

    At most :data:`_BUDGET` values are described (a setting may reference a large object
    graph); values beyond it, deeper than :data:`_DEPTH` or without a ``__dict__`` are
    opaque, and listed in ``opaque``.
    """

    def __init__(self) -> None:
        self.opaque: list[str] = []
        self.budget = _BUDGET

    def layers(self, model: nn.Module, depth: int) -> Iterator[str]:
        """One line per module: its name, class, extra_repr, settings and forward hooks."""
        own = set(vars(nn.Module())) - set(_HOOKS)
        for name, m in model.named_modules(remove_duplicate=False):
            settings = {k: v for k, v in vars(m).items() if k not in own}
            described = self.value(settings, depth, name or "the model")
            yield f"{name}:{_qualname(type(m))}({m.extra_repr()}){described}\n"

    def value(self, value: Any, depth: int, where: str) -> str:
        """A stable text for a setting's value (``where``: the module holding it)."""
        self.budget -= 1
        if isinstance(value, _PLAIN):
            return repr(value)
        if depth == 0 or self.budget < 0:
            self.opaque.append(f"{where} ({type(value).__name__}, too large)")
            return "?"
        sub = functools.partial(self.value, depth=depth - 1, where=where)
        if isinstance(value, Tensor):
            return "tensor:" + tensor_digest(value)
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return sub(value.tolist())
            data = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
            return f"array{value.shape}{value.dtype}:{data}"
        if isinstance(value, torch.Generator):
            return f"Generator(seed={value.initial_seed()})"
        if isinstance(value, dict):
            return "{" + ",".join(f"{sub(k)}:{sub(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list | tuple):
            return f"{type(value).__name__}[" + ",".join(sub(v) for v in value) + "]"
        if isinstance(value, set | frozenset):
            return "set[" + ",".join(sorted(sub(v) for v in value)) + "]"
        if isinstance(value, nn.Module):  # held outside the module tree: weights too
            layers = "".join(self.layers(value, depth - 1))
            return f"{_qualname(type(value))}[{_weights(value)}:{layers}]"
        if callable(value) and not isinstance(value, type):
            return self.function(value, depth, where)
        if isinstance(value, types.CodeType):
            return f"code({value.co_code.hex()},{sub(value.co_consts)},{value.co_names})"
        if isinstance(value, types.ModuleType | type):
            return _qualname(value)
        if dataclasses.is_dataclass(value):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return f"{_qualname(type(value))}{sub(fields)}"
        if hasattr(value, "__dict__"):
            return f"{_qualname(type(value))}{sub(vars(value))}"
        self.opaque.append(f"{where} ({type(value).__name__})")
        return f"{_qualname(type(value))}?"

    def function(self, fn: Any, depth: int, where: str) -> str:
        """A function by its code, defaults and closure; a builtin by its name."""
        sub = functools.partial(self.value, depth=depth - 1, where=where)
        if isinstance(fn, types.FunctionType):
            cells = [c.cell_contents for c in fn.__closure__ or ()]
            parts = (fn.__code__, fn.__defaults__, fn.__kwdefaults__, cells)
            return f"{_qualname(fn)}{sub(parts)}"
        if isinstance(fn, types.MethodType):
            return f"method({sub(fn.__func__)},{_qualname(type(fn.__self__))})"
        if isinstance(fn, functools.partial):
            return f"partial({sub(fn.func)},{sub(fn.args)},{sub(fn.keywords)})"
        if isinstance(fn, types.BuiltinFunctionType | types.BuiltinMethodType):
            return _qualname(fn)
        if hasattr(fn, "__dict__"):  # a callable object
            return f"{_qualname(type(fn))}{sub(vars(fn))}"
        self.opaque.append(f"{where} ({type(fn).__name__})")
        return f"{_qualname(type(fn))}?"
