"""Converters from ONNX operators to torch layers: the operator subset advkit imports.

Problem solved: classifiers exported for verification competitions (VNN-COMP) and
robustness leaderboards use a small set of operators. Each converter turns one ONNX node
into a standard torch layer (``nn.Conv2d``, ``nn.Linear``, ``nn.BatchNorm2d``, pooling,
activations, ``nn.Flatten``/``nn.Unflatten``), a constant-arithmetic layer of
:mod:`advkit.models.layers`, a residual ``+``, or a constant folded at conversion time
(``Constant`` and the shape computations ``Shape``/``Gather``/``Unsqueeze``/``Concat``
that ``x.view(x.size(0), -1)`` exports to). Anything a converter cannot express exactly
raises :class:`~advkit.models.onnx_builder.OnnxImportError` naming the node. ``Softmax``
and ``LogSoftmax`` are refused: advkit attacks logits.

Example:
    >>> from advkit.models.onnx_ops import CONVERTERS
    >>> "Conv" in CONVERTERS and "Erf" not in CONVERTERS
    True
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from advkit.models.layers import AddConstant, DivConstant, MulConstant, Permute, SubtractFrom
from advkit.models.onnx_builder import BATCH, Builder, Dynamic, attributes

if TYPE_CHECKING:
    import onnx

__all__ = ["CONVERTERS", "Converter", "supported"]

Converter = Callable[[Builder, "onnx.NodeProto"], None]
"""Converts one node: reads its inputs from the builder and sets its output there."""


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))


def _spatial(b: Builder, node: onnx.NodeProto, x: Dynamic) -> None:
    if len(x.shape) != 3:
        raise b.fail(node, f"advkit converts 2-D images (N, C, H, W); the input is {x.shape}")


def _pads(b: Builder, node: onnx.NodeProto, x: Dynamic, kernel: tuple[int, ...]) -> tuple[int, int]:
    """Symmetric (top/bottom, left/right) padding from ``pads`` or ``auto_pad``."""
    a = attributes(node)
    mode = a.get("auto_pad", "NOTSET")
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        strides = a.get("strides", [1, 1])
        dilations = a.get("dilations", [1, 1])
        pads = []
        for size, k, s, d in zip(x.shape[1:], kernel, strides, dilations, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            if total % 2:
                raise b.fail(node, f"auto_pad {mode} pads unevenly here; re-export with pads")
            pads.append(total // 2)
        return pads[0], pads[1]
    p = [0, 0, 0, 0] if mode == "VALID" else list(a.get("pads", [0, 0, 0, 0]))
    if p[:2] != p[2:]:
        raise b.fail(node, f"asymmetric pads {p} are not supported; pad symmetrically")
    return p[0], p[1]


def _conv(b: Builder, node: onnx.NodeProto) -> None:
    x, w, bias = b.dynamic(node, 0), b.weight(node, 1), b.optional_weight(node, 2)
    _spatial(b, node, x)
    if w.ndim != 4:
        raise b.fail(node, f"advkit converts 2-D convolutions; the weight is {w.shape}")
    a = attributes(node)
    groups = int(a.get("group", 1))
    conv = nn.Conv2d(
        w.shape[1] * groups,
        w.shape[0],
        tuple(w.shape[2:]),
        stride=tuple(a.get("strides", [1, 1])),
        padding=_pads(b, node, x, tuple(w.shape[2:])),
        dilation=tuple(a.get("dilations", [1, 1])),
        groups=groups,
        bias=bias is not None,
    )
    conv.weight.data = _tensor(w)
    if bias is not None and conv.bias is not None:
        conv.bias.data = _tensor(bias)
    b.add_module(node, conv, x)


def _batch_norm(b: Builder, node: onnx.NodeProto) -> None:
    x = b.dynamic(node, 0)
    a = attributes(node)
    if a.get("training_mode", 0) or a.get("spatial", 1) != 1 or any(node.output[1:]):
        raise b.fail(node, "only inference-mode, per-channel batch normalization is supported")
    scale, shift, mean, var = (b.weight(node, i) for i in range(1, 5))
    kind = nn.BatchNorm2d if len(x.shape) == 3 else nn.BatchNorm1d
    bn = kind(scale.shape[0], eps=float(a.get("epsilon", 1e-5)))
    state = {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var}
    bn.load_state_dict({k: _tensor(v) for k, v in state.items()}, strict=False)
    b.add_module(node, bn, x)


def _pool(b: Builder, node: onnx.NodeProto) -> None:
    x = b.dynamic(node, 0)
    _spatial(b, node, x)
    a = attributes(node)
    kernel = tuple(a["kernel_shape"])
    stride = tuple(a.get("strides", [1, 1]))
    padding = _pads(b, node, x, kernel)
    ceil = bool(a.get("ceil_mode", 0))
    if any(d != 1 for d in a.get("dilations", [1, 1])) and node.op_type == "AveragePool":
        raise b.fail(node, "dilated average pooling is not supported")
    pool: nn.Module
    if node.op_type == "MaxPool":
        if any(node.output[1:]):
            raise b.fail(node, "the indices output of MaxPool is not supported")
        dilation = tuple(a.get("dilations", [1, 1]))
        pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil)
    else:
        include = bool(a.get("count_include_pad", 0))
        pool = nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil, count_include_pad=include)
    b.add_module(node, pool, x)


def _global_average(b: Builder, node: onnx.NodeProto) -> None:
    x = b.dynamic(node, 0)
    _spatial(b, node, x)
    b.add_module(node, nn.AvgPool2d((x.shape[1], x.shape[2])), x)


def _activation(make: Callable[[onnx.NodeProto], nn.Module]) -> Converter:
    def convert(b: Builder, node: onnx.NodeProto) -> None:
        b.add_module(node, make(node), b.dynamic(node, 0))

    return convert


def _flatten(b: Builder, node: onnx.NodeProto) -> None:
    x = b.dynamic(node, 0)
    axis, rank = int(attributes(node).get("axis", 1)), len(x.shape) + 1
    if (axis if axis >= 0 else axis + rank) != 1:
        raise b.fail(node, f"Flatten with axis {axis} merges the batch dimension; use axis 1")
    b.add_module(node, nn.Flatten(), x)


def _reshape_target(b: Builder, node: onnx.NodeProto, x: Dynamic, shape: np.ndarray) -> list[int]:
    """The per-sample target shape of a Reshape that keeps the batch dimension first."""
    t = [int(v) for v in shape.reshape(-1)]
    full = (1, *x.shape)
    if attributes(node).get("allowzero", 0) and 0 in t:
        raise b.fail(node, "Reshape with allowzero and a zero dimension is not supported")
    keeps = len(t) > 1 and t[0] in (BATCH, -1, 0, b.batch)
    rest = [full[i + 1] if v == 0 and i + 1 < len(full) else v for i, v in enumerate(t[1:])]
    numel = math.prod(x.shape)
    if keeps and BATCH not in rest and rest.count(-1) <= (0 if t[0] == -1 else 1):
        known = math.prod(v for v in rest if v != -1)
        rest = [numel // known if v == -1 and known else v for v in rest]
        if math.prod(rest) == numel:
            return rest
    raise b.fail(
        node,
        f"Reshape of a sample of shape {x.shape} to {t} does not keep the batch dimension "
        "first; advkit needs every sample reshaped on its own (e.g. [-1, C*H*W] or "
        "[batch, -1])",
    )


def _reshape(b: Builder, node: onnx.NodeProto) -> None:
    x, shape = b.dynamic(node, 0), b.weight(node, 1)
    rest = _reshape_target(b, node, x, shape)
    module: nn.Module = nn.Flatten()
    if len(rest) > 1:
        module = nn.Sequential(nn.Flatten(), nn.Unflatten(1, tuple(rest)))
    b.add_module(node, module, x)


def _transpose(b: Builder, node: onnx.NodeProto) -> None:
    v = b.value(node, 0)
    perm = attributes(node).get("perm")
    if not isinstance(v, Dynamic):
        b.set_constant(node, np.transpose(v, perm))
        return
    perm = list(perm) if perm is not None else list(range(len(v.shape), -1, -1))
    if perm[0] != 0:
        raise b.fail(node, f"Transpose with perm {perm} moves the batch dimension")
    b.add_module(node, Permute(perm), v)


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
    """``nn.Linear`` computing x @ weight.T + bias."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    layer.weight.data = _tensor(weight)
    if bias is not None and layer.bias is not None:
        layer.bias.data = _tensor(bias)
    return layer


def _gemm(b: Builder, node: onnx.NodeProto) -> None:
    a = attributes(node)
    x, w, c = b.dynamic(node, 0), b.weight(node, 1), b.optional_weight(node, 2)
    if a.get("transA", 0):
        raise b.fail(node, "Gemm with transA = 1 mixes the samples of a batch")
    w = w if a.get("transB", 0) else w.T  # (out, in)
    bias = None
    if c is not None:
        if c.size not in (1, w.shape[0]) or (c.ndim == 2 and c.shape[0] != 1):
            raise b.fail(node, f"the bias C of shape {c.shape} depends on the sample index")
        bias = float(a.get("beta", 1.0)) * np.broadcast_to(c.reshape(-1), (w.shape[0],))
    b.add_module(node, _linear(float(a.get("alpha", 1.0)) * w, bias), x)


def _matmul(b: Builder, node: onnx.NodeProto) -> None:
    x, w = b.value(node, 0), b.value(node, 1)
    if not isinstance(x, Dynamic) or isinstance(w, Dynamic) or w.ndim != 2:
        raise b.fail(node, "advkit converts MatMul of the data by a constant 2-D weight")
    b.add_module(node, _linear(w.T, None), x)


_FOLD: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = MappingProxyType(
    {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}
)


def _arithmetic(b: Builder, node: onnx.NodeProto) -> None:
    """Add/Sub/Mul/Div: by a constant, folded when both are constants, or a residual Add."""
    left, right = b.value(node, 0), b.value(node, 1)
    if not isinstance(left, Dynamic) and not isinstance(right, Dynamic):
        b.set_constant(node, _FOLD[node.op_type](left, right))
        return
    if isinstance(left, Dynamic) and isinstance(right, Dynamic):
        if node.op_type != "Add":
            raise b.fail(node, f"{node.op_type} of two tensors computed from the input")
        b.add_function(node, operator.add, left, right)
        return
    x, c, first = (left, right, False) if isinstance(left, Dynamic) else (right, left, True)
    x, c = cast("Dynamic", x), cast("np.ndarray", c)
    if c.ndim > len(x.shape) + 1 or (c.ndim == len(x.shape) + 1 and c.shape[0] != 1):
        raise b.fail(node, f"the constant of shape {c.shape} depends on the sample index")
    constant = _tensor(c)
    module: nn.Module
    if node.op_type == "Sub":
        module = SubtractFrom(constant) if first else AddConstant(-constant)
    elif node.op_type == "Div":
        if first:
            raise b.fail(node, "division by a tensor computed from the input")
        module = DivConstant(constant)
    else:
        module = AddConstant(constant) if node.op_type == "Add" else MulConstant(constant)
    b.add_module(node, module, x)


def _pass_through(b: Builder, node: onnx.NodeProto) -> None:
    if any(node.output[1:]):
        raise b.fail(node, "the mask output of Dropout is not supported")
    b.alias(node, b.value(node, 0))


def _softmax(b: Builder, node: onnx.NodeProto) -> None:
    if b.is_output(node.output[0]):
        raise b.fail(
            node,
            "the model ends with a softmax: it returns probabilities where logits are "
            "expected (attacks on probabilities see vanishing gradients); remove the final "
            f"{node.op_type} and export the model again",
        )
    raise b.fail(node, f"{node.op_type} inside the network is not supported")


def _constant(b: Builder, node: onnx.NodeProto) -> None:
    from onnx import numpy_helper

    a = attributes(node)
    if "value" in a:
        b.set_constant(node, numpy_helper.to_array(a["value"]))
        return
    for key in ("value_float", "value_floats", "value_int", "value_ints"):
        if key in a:
            b.set_constant(node, np.asarray(a[key]))
            return
    raise b.fail(node, f"constants of kind {sorted(a)} are not supported")


def _shape(b: Builder, node: onnx.NodeProto) -> None:
    v = b.value(node, 0)
    shape = np.array([BATCH, *v.shape] if isinstance(v, Dynamic) else v.shape, dtype=np.int64)
    a = attributes(node)
    b.set_constant(node, shape[a.get("start", 0) : a.get("end", len(shape))])


def _folded(fn: Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]) -> Converter:
    """A converter for an operator applied to constants only (shape computations)."""

    def convert(b: Builder, node: onnx.NodeProto) -> None:
        inputs = [b.value(node, i) for i, name in enumerate(node.input) if name]
        if any(isinstance(v, Dynamic) for v in inputs):
            raise b.fail(
                node, f"advkit converts {node.op_type} only on constants and shapes, not on data"
            )
        b.set_constant(node, fn([np.asarray(v) for v in inputs], attributes(node)))

    return convert


def _unsqueeze(xs: list[np.ndarray], a: dict[str, Any]) -> np.ndarray:
    axes = [int(v) for v in np.asarray(xs[1] if len(xs) > 1 else a["axes"]).reshape(-1)]
    out = xs[0]
    rank = out.ndim + len(axes)
    for axis in sorted(v % rank for v in axes):
        out = np.expand_dims(out, axis)
    return out


CONVERTERS: Mapping[str, Converter] = MappingProxyType(
    {
        "Add": _arithmetic,
        "AveragePool": _pool,
        "BatchNormalization": _batch_norm,
        "Concat": _folded(lambda xs, a: np.concatenate(xs, axis=int(a.get("axis", 0)))),
        "Constant": _constant,
        "Conv": _conv,
        "Div": _arithmetic,
        "Dropout": _pass_through,
        "Flatten": _flatten,
        "Gather": _folded(lambda xs, a: np.take(xs[0], xs[1], axis=int(a.get("axis", 0)))),
        "Gemm": _gemm,
        "GlobalAveragePool": _global_average,
        "Identity": _pass_through,
        "LeakyRelu": _activation(lambda n: nn.LeakyReLU(attributes(n).get("alpha", 0.01))),
        "LogSoftmax": _softmax,
        "MatMul": _matmul,
        "MaxPool": _pool,
        "Mul": _arithmetic,
        "Relu": _activation(lambda n: nn.ReLU()),
        "Reshape": _reshape,
        "Shape": _shape,
        "Sigmoid": _activation(lambda n: nn.Sigmoid()),
        "Softmax": _softmax,
        "Sub": _arithmetic,
        "Tanh": _activation(lambda n: nn.Tanh()),
        "Transpose": _transpose,
        "Unsqueeze": _folded(_unsqueeze),
    }
)
"""The converter of every ONNX operator advkit imports (Softmax/LogSoftmax: refused)."""


def supported(table: Mapping[str, Converter]) -> str:
    """The operators of ``table`` that convert, for messages (the softmaxes are refused)."""
    return ", ".join(op for op in sorted(table) if table[op] is not _softmax)
