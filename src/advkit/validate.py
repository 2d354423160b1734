"""Input checks shared by every entry point: bad input gets a clear error, never a silent
wrong answer.

Example:
    >>> import torch
    >>> from advkit.validate import check_batch
    >>> check_batch(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from itertools import chain
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from advkit.engine import Attack

__all__ = [
    "check_attack",
    "check_batch",
    "check_clean_logits",
    "check_device",
    "check_eps_curve",
    "check_labels",
    "check_model",
    "check_model_accepts",
    "check_suite",
    "model_name",
]

_SHAPE_WORDS = re.compile(r"shape|size|dimension|channel|\b\dD\b", re.IGNORECASE)
"""Words of PyTorch's errors about input shapes (conv ranks, channel counts, matmuls)."""

_CAST = {torch.float64: "double", torch.float32: "float", torch.float16: "half"}
"""The tensor method casting to each dtype (``bfloat16`` is its own name)."""


def _tensor(name: str, v: Any) -> Tensor:
    if not isinstance(v, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(v).__name__}; "
            f"convert with torch.as_tensor({name})"
        )
    return v


def _samples(rows: list[int]) -> str:
    """``"samples [2, 7]"``, listing at most five."""
    return f"samples {rows[:5]}{', ...' if len(rows) > 5 else ''}"


def _at(rows: list[int], index: Sequence[int] | None) -> list[int]:
    """``rows`` (positions in a batch) as indices in the whole data."""
    return rows if index is None else [index[r] for r in rows]


def check_batch(
    x: Any,
    y: Any,
    target: Any = None,
    *,
    lo: float = 0.0,
    hi: float = 1.0,
    index: Sequence[int] | None = None,
) -> None:
    """Check inputs (N, ...) in the box [lo, hi] and integer labels (N,); ``index``: the
    samples' indices in the whole data, for messages (default: their positions in x)."""
    x = _tensor("x", x)
    y = _tensor("y", y)
    if not x.is_floating_point():
        raise TypeError(
            f"x has dtype {x.dtype}; advkit needs floating-point inputs in [{lo}, {hi}] "
            "(for 8-bit images use x.float() / 255)"
        )
    if x.dim() < 2:
        raise ValueError(
            f"x must have a batch dimension, shape (N, ...) such as (N, C, H, W); got "
            f"shape {tuple(x.shape)} (for a single input use x[None])"
        )
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch")
    if not _finite_sums([x])[0] and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1).nonzero()[:, 0]
        raise ValueError(
            f"x contains NaN or inf values ({_samples(_at(bad.tolist(), index))}); fix the "
            "data loading or preprocessing, or drop those samples"
        )
    xmin, xmax = (float(v) for v in torch.aminmax(x.detach()))
    if xmin < lo - 1e-6 or xmax > hi + 1e-6:
        raise ValueError(  # 8 digits: 1.00001 must not print as 1
            f"x has values in [{xmin:.8g}, {xmax:.8g}] outside the input box [{lo}, {hi}]: "
            "scale images to [0, 1] (divide 8-bit images by 255; put normalization inside "
            "the model as its first layer), or set the threat model's lo/hi"
        )
    for name, lab in (("y", y), ("target", target)):
        if lab is None:
            continue
        lab = _tensor(name, lab)
        if lab.device != x.device:
            raise ValueError(
                f"{name} is on {lab.device} but x is on {x.device}; put them on one device, "
                f'e.g. {name} = {name}.to("{x.device}")'
            )
        if lab.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(
                f"{name} must hold integer class labels, got dtype {lab.dtype}; use {name}.long()"
            )
        if lab.shape != (x.shape[0],):
            hint = (
                "; if x is a single input, add the batch dimension with x[None]"
                if lab.numel() == 1
                else ""
            )
            raise ValueError(
                f"{name} must have shape ({x.shape[0]},) to match x, got {tuple(lab.shape)}" + hint
            )


def check_labels(y: Tensor, num_classes: int, name: str = "y") -> None:
    """Labels must lie in [0, num_classes)."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"{name} has labels in [{int(y.min())}, {int(y.max())}] but the model has "
            f"{num_classes} classes (labels must be in [0, {num_classes - 1}])"
        )


def model_name(model: nn.Module) -> str:
    """The head of the model's ``repr`` on one line, to name it in messages.

    Example:
        >>> model_name(torch.nn.Sequential(torch.nn.Flatten()))
        'Sequential( (0): Flatten(start_dim=1, end_dim=-1) )'
    """
    text = " ".join(repr(model).split())
    return text if len(text) <= 60 else text[:57] + "..."


def check_model(model: Any) -> nn.Module:
    """Refuse anything but an ``nn.Module`` instance, and a module with NaN or inf weights.

    A plain function is refused rather than wrapped: advkit needs the module's eval mode,
    parameters (dtype, device, the store's identity) and submodules (defense traits).
    Parameters must be finite and buffers free of NaN: one sum per tensor and one device
    sync per device prove it for sound weights; only a tensor whose sum is not finite (a
    broken one, or an overflow of large finite values) is scanned element by element.

    Example:
        >>> check_model(torch.nn.Linear(4, 2)).out_features
        2
    """
    if isinstance(model, type) and issubclass(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got the class {model.__name__}; pass an "
            f"instance such as {model.__name__}()"
        )
    if not isinstance(model, nn.Module):
        hint = (
            "; wrap a function in a module whose forward calls it (class Net(torch.nn.Module)"
            " with def forward(self, x): return f(x))"
            if callable(model)
            else ""
        )
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}{hint}")
    bad = _broken_weights(model)
    if bad:
        name, t = bad[0]
        nan, inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
        what = " and ".join(f"{kind} in {k}" for kind, k in (("NaN", nan), ("inf", inf)) if k)
        more = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
        raise ValueError(
            f"the model {model_name(model)} has broken weights: {name} holds {what} of its "
            f"{t.numel()} values{more}; check the checkpoint it was loaded from (a diverged "
            "training run, or an fp16 overflow before saving): retrain or load an earlier one"
        )
    return model


def _broken_weights(model: nn.Module) -> list[tuple[str, Tensor]]:
    """(name, tensor) of each parameter holding NaN or inf and each buffer holding NaN
    (buffers may keep ±inf, as observers' running min and max do)."""
    params = [(f"parameter {n!r}", t, True) for n, t in model.named_parameters()]
    buffers = [(f"buffer {n!r}", t, False) for n, t in model.named_buffers()]
    checked = [
        (name, t.detach(), strict)
        for name, t, strict in params + buffers
        if not (is_lazy(t) or t.is_meta or not t.is_floating_point())
    ]
    proved = _finite_sums([t for _, t, _ in checked])
    return [
        (name, t)
        for (name, t, strict), ok in zip(checked, proved, strict=True)
        if not ok and not bool(torch.isfinite(t).all() if strict else ~torch.isnan(t).any())
    ]


@torch.no_grad()
def _finite_sums(tensors: list[Tensor]) -> list[bool]:
    """Whether each tensor's sum is finite, which proves it free of NaN and inf (a false
    only says: look closer, since large finite values may overflow the sum). One sum per
    tensor and one device sync per device, instead of a scan and a sync per tensor.

    Example:
        >>> _finite_sums([torch.ones(3), torch.tensor([1.0, float("nan")])])
        [True, False]
    """
    out = [False] * len(tensors)
    for device in {t.device for t in tensors}:
        at = [i for i, t in enumerate(tensors) if t.device == device]
        sums = torch.stack([tensors[i].sum(dtype=torch.float32) for i in at])
        for i, ok in zip(at, sums.isfinite().tolist(), strict=True):
            out[i] = ok
    return out


def check_clean_logits(model: nn.Module, logits: Tensor, index: Sequence[int]) -> None:
    """Refuse NaN or inf logits on clean inputs, naming the model and the samples.

    Args:
        model: the model that returned ``logits`` (named in the message).
        logits: its (N, K) output on clean inputs.
        index: the dataset index of each row, for the message.

    Example:
        >>> net = torch.nn.Linear(2, 2)
        >>> check_clean_logits(net, torch.zeros(3, 2), [0, 1, 2])
    """
    bad = ~torch.isfinite(logits.detach()).reshape(logits.shape[0], -1).all(dim=1)
    if bool(bad.any()):
        rows = [int(index[i]) for i in bad.nonzero()[:, 0].tolist()]
        raise ValueError(
            f"the model {model_name(model)} returned NaN or inf logits on clean inputs "
            f"({_samples(rows)}); check its weights (loaded from a checkpoint with NaN "
            "weights?) and its arithmetic (an fp16/bf16 overflow? run it in float32 with "
            "model.float())"
        )


def check_device(model: nn.Module, x: Tensor) -> None:
    """``x`` must be on the device of the model's first parameter or buffer (any device
    for a model without any): advkit follows the model and inputs, never moves them.

    Example:
        >>> check_device(torch.nn.Linear(2, 2), torch.rand(1, 2, device="meta"))
        Traceback (most recent call last):
        ...
        ValueError: the model is on cpu but the inputs are on meta; put both on one ...
    """
    first = next(chain(model.parameters(), model.buffers()), None)
    if first is not None and first.device != x.device:
        raise ValueError(
            f"the model is on {first.device} but the inputs are on {x.device}; put both on "
            f'one device, e.g. x = x.to("{first.device}") or model.to("{x.device}") (the '
            "command line's --device does both)"
        )


@torch.no_grad()
def check_model_accepts(model: nn.Module, x: Tensor) -> int:
    """Run the model on a copy of the first input; return the number of classes, or say
    what failed (the device, dtypes, shapes, or the model's own error)."""
    check_device(model, x)
    first = x[:1].clone()
    try:
        out = model(first)
    except Exception as err:
        raise _forward_error(model, first, err) from err
    if not isinstance(out, Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"the model must return logits of shape (N, num_classes), got {shape}")
    check_clean_logits(model, out, [0])
    return int(out.shape[1])


def _dtype(d: torch.dtype) -> str:
    return str(d).removeprefix("torch.")


def _forward_error(model: nn.Module, x: Tensor, err: Exception) -> Exception:
    """What failed when ``model`` raised ``err`` on the one input ``x``."""
    tensors = [*model.parameters(), *model.buffers()]
    dtypes = sorted({t.dtype for t in tensors if t.is_floating_point()}, key=str)
    if len(dtypes) > 1:
        return TypeError(
            f"the model's parameters mix {' and '.join(map(_dtype, dtypes))}; cast the model "
            f"to one dtype, e.g. model.float() (the model failed with: {err})"
        )
    if dtypes and x.dtype not in dtypes:
        want = dtypes[0]
        return TypeError(
            f"the model's parameters are {_dtype(want)} but x is {_dtype(x.dtype)}; use "
            f"x.{_CAST.get(want, _dtype(want))}() or model.{_CAST.get(x.dtype, _dtype(x.dtype))}()"
            f" (the model failed with: {err})"
        )
    if isinstance(err, RuntimeError | ValueError | IndexError) and _SHAPE_WORDS.search(str(err)):
        return ValueError(
            f"the model cannot process inputs of shape {tuple(x.shape[1:])} (per sample): "
            f"{err}. Check the rank and channel count, e.g. (N, 1, 28, 28) for MNIST"
        )
    return ValueError(
        f"the model {model_name(model)} failed on one input of shape {tuple(x.shape)} "
        f"with {type(err).__name__}: {err}; fix the model's forward"
    )


def check_eps_curve(eps_curve: Any) -> tuple[float, ...]:
    """The ε values of ``eps_curve`` (a sequence of numbers), or a TypeError saying why not.

    Example:
        >>> check_eps_curve([0.1, 0.2])
        (0.1, 0.2)
    """
    usage = f"eps_curve must be a list of numbers such as [0.1, 0.2], got {eps_curve!r}"
    try:
        values = None if isinstance(eps_curve, str | bytes) else list(eps_curve)
    except TypeError:  # a scalar
        values = None
    if values is None:
        raise TypeError(f"{usage}; write eps_curve=[0.1, 0.2] (or [] for none)")
    for e in values:
        number = isinstance(e, numbers.Real) or (
            isinstance(e, Tensor) and e.dim() == 0 and e.dtype != torch.bool
        )
        if isinstance(e, bool) or not number:
            raise TypeError(f"{usage}: {e!r} is not a number")
    out = tuple(float(e) for e in values)
    if any(math.isnan(e) for e in out):
        raise ValueError("every ε must be a number >= 0, got NaN in eps_curve")
    return out


def check_attack(method: Any, what: str = "method") -> None:
    """Refuse anything but an attack configuration (an instance of an attack class).

    Example:
        >>> from advkit.attacks import PGD
        >>> check_attack(PGD())
    """
    if isinstance(method, Attack):
        return
    if isinstance(method, str):
        got, fix = f"the string {method!r}", f"advkit.attacks.catalog.make_attack({method!r})"
    elif isinstance(method, type) and issubclass(method, Attack):
        got, fix = f"the class {method.__name__}", f"an instance such as {method.__name__}()"
    else:
        got, fix = type(method).__name__, "a configuration such as advkit.PGD(steps=100)"
    raise TypeError(f"{what} must be an attack such as advkit.PGD(), got {got}; pass {fix}")


def check_suite(suite: Any) -> None:
    """A suite is a name or a list of (name, attack) pairs; refuse anything else.

    Example:
        >>> from advkit.attacks import FGM
        >>> check_suite([("fgm", FGM())])
    """
    if isinstance(suite, str):
        return
    usage = (
        "a suite is a name ('standard', 'plus', 'rand', 'quick', 'fast') or a list of "
        "(name, attack) pairs such as [('pgd', advkit.PGD())]"
    )
    if not isinstance(suite, list | tuple):
        raise TypeError(f"{usage}, got {type(suite).__name__}")
    for entry in suite:
        if not (isinstance(entry, list | tuple) and len(entry) == 2 and isinstance(entry[0], str)):
            raise TypeError(f"{usage}, got the entry {entry!r}")
        check_attack(entry[1], f"the attack of suite entry {entry[0]!r}")
