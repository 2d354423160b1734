"""The input a model expects, declared and checked: normalization and channel layout.

Problem solved: advkit's images are (N, C, H, W) in [0, 1], and threat models live in that
pixel space. A model from a file may expect standardized inputs ``(x - mean) / std`` or
channels last (N, H, W, C), as models converted from TensorFlow do. :class:`InputSpec`
declares both; :func:`adapt_inputs` prepends the normalization and the permutation as the
model's first layers (so attacks still work on pixels) and checks the declaration before
any work: mean/std lengths against the data's channels, the layout against the input
shape an ONNX file declares, and one sample through the model, whose first convolution or
linear layer names what it expected when the data does not fit.

Example:
    >>> import torch
    >>> from advkit.models.input_spec import InputSpec, adapt_inputs
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    >>> model = adapt_inputs(net, InputSpec(mean=(0.5,), std=(0.25,)), (3, 8, 8))
    >>> model(torch.rand(2, 3, 8, 8)).shape
    torch.Size([2, 144])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from advkit.models.layers import Permute
from advkit.models.normalize import Normalize

__all__ = ["LAYOUTS", "InputSpec", "adapt_inputs"]

LAYOUTS = ("nchw", "nhwc")
"""Input layouts: channels first (advkit's own) or channels last."""


@dataclass(frozen=True)
class InputSpec:
    """What a model expects of its input.

    Attributes:
        layout: ``"nchw"`` (channels first, advkit's images as they are) or ``"nhwc"``
            (channels last: images are permuted before the model).
        mean: per-channel mean (or one value for all) the model was trained with.
        std: per-channel standard deviation (or one value); given with ``mean``.

    Raises:
        ValueError: an unknown layout, only one of mean/std, or a non-positive std.
    """

    layout: str = "nchw"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is unknown; use one of {', '.join(LAYOUTS)}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("--mean and --std go together: give both (one value per channel)")
        if self.mean is not None and self.std is not None:
            sizes = {len(self.mean), len(self.std)}
            if 0 in sizes or len(sizes - {1}) > 1:
                raise ValueError(
                    f"--mean has {len(self.mean)} values and --std {len(self.std)}; give one "
                    "value per channel for both (or a single value)"
                )
        if self.std is not None and not all(s > 0 for s in self.std):
            raise ValueError(f"--std must be positive, got {list(self.std)}")

    def box(self) -> tuple[float, float]:
        """The range of the values the model receives for pixels in [0, 1]."""
        if self.mean is None or self.std is None:
            return (0.0, 1.0)
        n = max(len(self.mean), len(self.std))
        means = self.mean * (n // len(self.mean))
        stds = self.std * (n // len(self.std))
        pairs = list(zip(means, stds, strict=True))
        return (min(-m / s for m, s in pairs), max((1 - m) / s for m, s in pairs))


def adapt_inputs(
    model: nn.Module,
    spec: InputSpec,
    sample_shape: Sequence[int],
    declared: tuple[int, ...] | None = None,
) -> nn.Module:
    """``model`` behind the normalization and layout of ``spec``, checked on one sample.

    Args:
        model: the classifier as loaded.
        spec: what it expects.
        sample_shape: the shape of one of advkit's samples, e.g. ``(3, 32, 32)``.
        declared: the per-sample input shape the model's file declares (ONNX), if any; a
            flat declared shape of the same size takes the images flattened.

    Returns:
        ``model`` itself when nothing is to be added, else ``nn.Sequential(Normalize,
        Permute, Flatten, model)`` with the layers that apply.

    Raises:
        ValueError: mean/std lengths that fit neither one value nor the channel count, a
            layout that does not match the declared shape or the model's first layer, or
            a sample the model cannot take (the message names the first layer).
    """
    shape = tuple(sample_shape)
    layers: list[nn.Module] = []
    if spec.mean is not None and spec.std is not None:
        for option, values in (("--mean", spec.mean), ("--std", spec.std)):
            if len(values) not in (1, shape[0]):
                raise ValueError(
                    f"{option} has {len(values)} values but the data has {shape[0]} channels "
                    f"(samples of shape {shape}); give one value per channel or a single one"
                )
        layers.append(Normalize(spec.mean, spec.std))
    fed = shape
    if spec.layout == "nhwc":
        if len(shape) != 3:
            raise ValueError(f"--layout nhwc needs images (C, H, W); the samples are {shape}")
        layers.append(Permute((0, 2, 3, 1)))
        fed = (shape[1], shape[2], shape[0])
    if declared is not None and declared != fed:
        if len(declared) != 1 or declared[0] != math.prod(fed):
            raise ValueError(_declared_mismatch(declared, fed, shape, spec.layout))
        layers.append(nn.Flatten())
    adapted = nn.Sequential(*layers, model).train(model.training) if layers else model
    _probe(model, adapted, shape, spec.layout)
    return adapted


def _declared_mismatch(
    declared: tuple[int, ...], fed: tuple[int, ...], shape: tuple[int, ...], layout: str
) -> str:
    other = "nhwc" if layout == "nchw" else "nchw"
    swapped = (shape[1], shape[2], shape[0]) if layout == "nchw" else shape
    fix = (
        f"pass --layout {other}"
        if len(shape) == 3 and declared == swapped
        else "check --dataset: the model was made for other images"
    )
    return (
        f"the ONNX input takes samples of shape {declared}, but the data's samples of shape "
        f"{shape} reach it as {fed} (--layout {layout}); {fix}"
    )


def _probe(model: nn.Module, adapted: nn.Module, shape: tuple[int, ...], layout: str) -> None:
    """Run one zero sample; explain a failure by the model's first weighted layer."""
    names = {id(m): n for n, m in model.named_modules()}
    seen: list[tuple[nn.Module, tuple[int, ...]]] = []

    def record(module: nn.Module, args: tuple[object, ...]) -> None:
        x = args[0] if args else None
        if not seen and isinstance(module, nn.Conv2d | nn.Linear) and isinstance(x, torch.Tensor):
            seen.append((module, tuple(x.shape)))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules()]
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    x = torch.zeros(1, *shape, device=param.device if param is not None else None)
    x = x.to(param.dtype) if param is not None else x
    failure = None
    try:
        with torch.no_grad():
            adapted(x)
    except RuntimeError as err:
        failure = err
    finally:
        for h in hooks:
            h.remove()
    first = seen[0] if seen else None
    message = _first_layer_problem(first, names, shape, layout, failure is not None)
    if message is not None:
        raise ValueError(message) from failure
    if failure is not None:
        reason = str(failure).splitlines()[0]
        raise ValueError(
            f"the model cannot take the data's samples of shape {shape} (--layout {layout}): "
            f"{reason}; check --dataset, --layout and the model"
        ) from failure


def _first_layer_problem(
    first: tuple[nn.Module, tuple[int, ...]] | None,
    names: dict[int, str],
    shape: tuple[int, ...],
    layout: str,
    failed: bool,
) -> str | None:
    if first is None:
        return None
    layer, got = first
    where = (
        f"the model's first layer, {names.get(id(layer)) or 'the model'} ({type(layer).__name__})"
    )
    if isinstance(layer, nn.Conv2d):
        if layout == "nhwc" and got[1:] == (shape[1], shape[2], shape[0]):
            return (
                f"{where}, takes images channels first (N, C, H, W); with --layout nhwc it "
                "would read image rows as channels: use --layout nchw"
            )
        if failed and got[1] != layer.in_channels:
            return (
                f"{where}, takes {layer.in_channels} channels but the data's samples have "
                f"shape {shape} (--layout {layout}); check --dataset and --layout"
            )
    if isinstance(layer, nn.Linear) and failed and got[-1] != layer.in_features:
        return (
            f"{where}, takes {layer.in_features} features but the data's samples have shape "
            f"{shape} ({math.prod(shape)} values); check --dataset"
        )
    return None
