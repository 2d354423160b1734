"""A classifier as a graph of affine maps, ReLUs and additions, traced with ``torch.fx``.

Problem solved: bound propagation (IBP, CROWN, MIP encodings) needs to see a network as a
directed acyclic graph of simple operations, whatever Python code builds it. The model is
traced with ``torch.fx`` (so it need not be an ``nn.Sequential``) and each node becomes one
of three kinds:

- ``affine``: a map f(x) = J x + f(0) applied per sample: ``Linear``, ``Conv2d``,
  ``BatchNorm`` (eval), ``AvgPool2d``, advkit's ``Normalize``, ``Flatten``/``reshape``/
  ``view``, ``Identity`` and ``Dropout`` (eval);
- ``relu``: ``nn.ReLU``, ``torch.relu``, ``F.relu``, ``Tensor.relu``;
- ``maxpool``: ``nn.MaxPool2d``, ``F.max_pool2d`` (no dilation, no ceil mode);
- ``add``: the sum of two nodes (residual connections).

Anything else raises a ``TypeError`` naming the operation. The ops
hold the model's parameters themselves (not copies), so bounds are differentiable with
respect to them (certified training).

Example:
    >>> import torch
    >>> from advkit.certify.graph import trace
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU())
    >>> [n.kind for n in trace(net, torch.zeros(1, 2, 2)).nodes]
    ['input', 'affine', 'affine', 'relu']
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from advkit.models.normalize import Normalize

__all__ = ["Affine", "Graph", "MaxPool", "Node", "trace"]

SUPPORTED = (
    "Linear, Conv2d, ReLU, MaxPool2d, Flatten/reshape/view, BatchNorm (eval), AvgPool2d, "
    "Normalize, Identity, Dropout (eval) and the addition of two branches"
)


@dataclass(eq=False)
class Affine:
    """A per-sample affine map y = J x + b between fixed shapes.

    Attributes:
        forward: the map on a batch (M, *in_shape) -> (M, *out_shape), bias included.
        abs_forward: x -> |J| x on a batch (no bias), used by interval propagation.
        transpose: A -> Jᵀ A on a batch (M, *out_shape) -> (M, *in_shape).
        in_shape: per-sample input shape.
        out_shape: per-sample output shape.
    """

    forward: Callable[[Tensor], Tensor]
    abs_forward: Callable[[Tensor], Tensor]
    transpose: Callable[[Tensor], Tensor]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    device: torch.device
    bias: Tensor = field(init=False)

    def __post_init__(self) -> None:
        # not under no_grad: certified training differentiates bounds through the bias
        self.bias = self.forward(torch.zeros(1, *self.in_shape, device=self.device))[0]


@dataclass(frozen=True)
class MaxPool:
    """2-D max pooling over (kernel, stride, padding) windows, padding with −∞.

    Attributes:
        kernel, stride, padding: (height, width) pairs.
        in_shape: per-sample input shape (C, H, W).
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    in_shape: tuple[int, ...]

    def forward(self, x: Tensor) -> Tensor:
        """The pooled batch (M, C, H', W')."""
        return F.max_pool2d(x, self.kernel, self.stride, self.padding)

    def windows(self, v: Tensor, fill: float) -> Tensor:
        """Each output's window of ``v`` (M, C, H, W) -> (M, C, kh·kw, H'·W')."""
        m, c, h, w = v.shape
        ph, pw = self.padding
        padded = F.pad(v.reshape(m * c, 1, h, w), (pw, pw, ph, ph), value=fill)
        cols = F.unfold(padded, self.kernel, stride=self.stride)
        return cols.reshape(m, c, cols.shape[1], cols.shape[2])


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _maxpool(m: nn.MaxPool2d, in_shape: tuple[int, ...], name: str) -> MaxPool:
    if len(in_shape) != 3:
        raise TypeError(f"{name}: certifiers support MaxPool2d on (C, H, W) inputs only")
    if _pair(m.dilation) != (1, 1) or m.ceil_mode or m.return_indices:
        raise TypeError(
            f"{name}: certifiers support MaxPool2d without dilation, ceil_mode or indices"
        )
    stride = m.stride if m.stride is not None else m.kernel_size
    return MaxPool(_pair(m.kernel_size), _pair(stride), _pair(m.padding), in_shape)


@dataclass(eq=False)
class Node:
    """One operation: ``kind`` is input/affine/relu/maxpool/add; ``inputs`` index earlier
    nodes; ``op`` is an affine node's map, ``pool`` a max-pooling node's windows."""

    name: str
    kind: str
    inputs: list[int]
    shape: tuple[int, ...]
    op: Affine | None = None
    pool: MaxPool | None = None


@dataclass(eq=False)
class Graph:
    """Nodes in topological order; the last one is the output (logits)."""

    nodes: list[Node]

    def forward(self, x: Tensor) -> Tensor:
        """Evaluate the graph (equals the traced model's forward)."""
        values: list[Tensor] = []
        for node in self.nodes:
            if node.kind == "input":
                values.append(x)
            elif node.kind == "affine":
                assert node.op is not None
                values.append(node.op.forward(values[node.inputs[0]]))
            elif node.kind == "relu":
                values.append(values[node.inputs[0]].clamp_min(0))
            elif node.kind == "maxpool":
                assert node.pool is not None
                values.append(node.pool.forward(values[node.inputs[0]]))
            else:
                values.append(values[node.inputs[0]] + values[node.inputs[1]])
        return values[-1]

    def relus(self) -> list[int]:
        """Indices of the ReLU nodes."""
        return [i for i, n in enumerate(self.nodes) if n.kind == "relu"]

    def nonlinear(self) -> list[int]:
        """Indices of the ReLU and max-pooling nodes (those that need input bounds)."""
        return [i for i, n in enumerate(self.nodes) if n.kind in ("relu", "maxpool")]


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, Normalize) or super().is_leaf_module(m, qualname)


def _transpose_by_autograd(fn: Callable[[Tensor], Tensor], in_shape: tuple[int, ...]) -> Callable:
    def transpose(a: Tensor) -> Tensor:
        with torch.enable_grad():
            z = torch.zeros(
                a.shape[0], *in_shape, dtype=a.dtype, device=a.device, requires_grad=True
            )
            (g,) = torch.autograd.grad(fn(z), z, a, create_graph=a.requires_grad)
        return g

    return transpose


def _reshape(in_shape: tuple[int, ...], out_shape: tuple[int, ...], dev: torch.device) -> Affine:
    return Affine(
        lambda x: x.reshape(x.shape[0], *out_shape),
        lambda x: x.reshape(x.shape[0], *out_shape),
        lambda a: a.reshape(a.shape[0], *in_shape),
        in_shape,
        out_shape,
        dev,
    )


def _scale_shift(scale: Tensor, shift: Tensor, shape: tuple[int, ...]) -> Affine:
    dev = scale.device
    return Affine(
        lambda x: x * scale + shift,
        lambda x: x * scale.abs(),
        lambda a: a * scale,
        shape,
        shape,
        dev,
    )


def _module_op(
    m: nn.Module, in_shape: tuple[int, ...], name: str, dev: torch.device
) -> Affine | str:
    """The affine op of module ``m``, or "relu"; raises TypeError when unsupported."""
    if isinstance(m, nn.ReLU):
        return "relu"
    try:
        out_shape = tuple(m(torch.zeros(1, *in_shape, device=dev)).shape[1:])
    except (RuntimeError, TypeError, ValueError) as err:
        raise TypeError(f"layer {name} ({type(m).__name__}) failed on a test input: {err}") from err
    if isinstance(m, nn.Linear):
        w = m.weight
        b = m.bias
        return Affine(
            lambda x: F.linear(x, w, b),
            lambda x: F.linear(x, w.abs()),
            lambda a: a @ w,
            in_shape,
            out_shape,
            dev,
        )
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise TypeError(f"{name}: certifiers support Conv2d with numeric zero padding only")
        w = m.weight
        cb = m.bias
        st, pd, dl, gr = m.stride, m.padding, m.dilation, m.groups
        extra = [
            in_shape[1 + i]
            - ((out_shape[1 + i] - 1) * st[i] - 2 * pd[i] + dl[i] * (w.shape[2 + i] - 1) + 1)
            for i in range(2)
        ]

        def t_conv(a: Tensor) -> Tensor:
            return F.conv_transpose2d(
                a, w, None, st, pd, output_padding=tuple(extra), groups=gr, dilation=dl
            )

        return Affine(
            lambda x: F.conv2d(x, w, cb, st, pd, dl, gr),
            lambda x: F.conv2d(x, w.abs(), None, st, pd, dl, gr),
            t_conv,
            in_shape,
            out_shape,
            dev,
        )
    if isinstance(m, Normalize):
        shape = (-1,) + (1,) * (len(in_shape) - 1)
        std = m.std.detach().reshape(shape)
        return _scale_shift(1.0 / std, -m.mean.detach().reshape(shape) / std, in_shape)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        if m.training or m.running_mean is None or m.running_var is None:
            raise TypeError(f"{name}: BatchNorm must be in eval mode with running statistics")
        shape = (-1,) + (1,) * (len(in_shape) - 1)
        scale = 1.0 / torch.sqrt(m.running_var.detach() + m.eps)
        if m.weight is not None:
            scale = scale * m.weight
        shift = -m.running_mean.detach() * scale
        if m.bias is not None:
            shift = shift + m.bias
        return _scale_shift(scale.reshape(shape), shift.reshape(shape), in_shape)
    if isinstance(m, nn.AvgPool2d):
        return Affine(m, m, _transpose_by_autograd(m, in_shape), in_shape, out_shape, dev)
    if isinstance(m, nn.Flatten | nn.Unflatten):
        return _reshape(in_shape, out_shape, dev)
    if isinstance(m, nn.Identity | nn.Dropout):
        return _reshape(in_shape, in_shape, dev)
    raise TypeError(
        f"layer {name} ({type(m).__name__}) is not supported by advkit's certifiers; "
        f"supported: {SUPPORTED}"
    )


_RELU_FUNCS = {torch.relu, F.relu}
_MAXPOOL_FUNCS = {F.max_pool2d, torch.max_pool2d}
_ADD_FUNCS = {operator.add, torch.add}
_SHAPE_FUNCS = {torch.flatten, torch.reshape}
_SHAPE_METHODS = {"flatten", "view", "reshape"}


def trace(model: nn.Module, example: Tensor) -> Graph:
    """Trace ``model`` into a :class:`Graph`, checking it against a forward pass.

    Args:
        model: a classifier in eval mode.
        example: one or more inputs (N, ...) used for shapes and the consistency check.

    Raises:
        TypeError: the model uses an operation certifiers do not support (named).
    """
    try:
        fx_graph = _Tracer().trace(model)
    except Exception as err:  # fx raises many kinds of errors on dynamic control flow
        raise TypeError(
            f"torch.fx could not trace the model for certification ({err}); certifiers need "
            "a model without data-dependent control flow"
        ) from err
    modules = dict(model.named_modules())
    nodes: list[Node] = []
    where: dict[str, int] = {}
    ex = example[:1].detach()
    values: list[Tensor] = []

    def add(
        name: str,
        kind: str,
        inputs: list[int],
        op: Affine | None,
        value: Tensor,
        pool: MaxPool | None = None,
    ) -> None:
        where[name] = len(nodes)
        nodes.append(Node(name, kind, inputs, tuple(value.shape[1:]), op, pool))
        values.append(value)

    def add_pool(name: str, src: int, m: nn.MaxPool2d) -> None:
        pool = _maxpool(m, nodes[src].shape, name)
        add(name, "maxpool", [src], None, pool.forward(values[src]), pool)

    def arg_node(a: object, what: str) -> int:
        if not isinstance(a, fx.Node) or a.name not in where:
            raise TypeError(f"{what}: certifiers need tensor arguments from the graph, got {a!r}")
        return where[a.name]

    for n in fx_graph.nodes:
        if n.op == "placeholder":
            if nodes:
                raise TypeError("certifiers need a model with a single input tensor")
            add(n.name, "input", [], None, ex)
        elif n.op == "output":
            out = n.args[0]
            if not isinstance(out, fx.Node):
                raise TypeError("certifiers need a model returning one tensor of logits")
            last = where[out.name]
            if last != len(nodes) - 1:
                raise TypeError("the output must be the last operation of the model")
        elif n.op == "call_module":
            src = arg_node(n.args[0], n.target)
            m = modules[n.target]
            if isinstance(m, nn.MaxPool2d):
                add_pool(n.name, src, m)
                continue
            op = _module_op(m, nodes[src].shape, str(n.target), ex.device)
            if op == "relu":
                add(n.name, "relu", [src], None, values[src].clamp_min(0))
            else:
                assert isinstance(op, Affine)
                add(n.name, "affine", [src], op, op.forward(values[src]))
        elif n.op in ("call_function", "call_method"):
            tgt = n.target
            label = tgt if isinstance(tgt, str) else getattr(tgt, "__name__", repr(tgt))
            if tgt in _RELU_FUNCS or tgt in ("relu", "relu_"):
                src = arg_node(n.args[0], label)
                add(n.name, "relu", [src], None, values[src].clamp_min(0))
            elif tgt in _MAXPOOL_FUNCS and n.op == "call_function":
                src = arg_node(n.args[0], label)
                try:
                    m = nn.MaxPool2d(*n.args[1:], **n.kwargs)
                except TypeError as err:
                    raise TypeError(f"{n.name}: unsupported max_pool2d arguments: {err}") from err
                add_pool(n.name, src, m)
            elif tgt in _ADD_FUNCS or tgt == "add":
                a, b = arg_node(n.args[0], label), arg_node(n.args[1], label)
                if nodes[a].shape != nodes[b].shape or n.kwargs:
                    raise TypeError(f"{n.name}: certifiers support addition of equal shapes only")
                add(n.name, "add", [a, b], None, values[a] + values[b])
            elif tgt in _SHAPE_FUNCS or tgt in _SHAPE_METHODS:
                src = arg_node(n.args[0], label)
                if n.op == "call_method":
                    v = getattr(values[src], str(tgt))(*n.args[1:], **n.kwargs)
                else:
                    v = tgt(values[src], *n.args[1:], **n.kwargs)
                if v.shape[0] != 1 or math.prod(v.shape) != values[src].numel():
                    raise TypeError(f"{n.name}: a reshape must keep the batch dimension")
                op = _reshape(nodes[src].shape, tuple(v.shape[1:]), ex.device)
                add(n.name, "affine", [src], op, v)
            else:
                raise TypeError(
                    f"operation {label} (node {n.name}) is not supported by advkit's "
                    f"certifiers; supported: {SUPPORTED}"
                )
        else:
            raise TypeError(
                f"node {n.name} ({n.op} {n.target}) is not supported by advkit's certifiers"
            )
    graph = Graph(nodes)
    with torch.no_grad():
        ref, got = model(ex), graph.forward(ex)
    if ref.shape != got.shape or not torch.allclose(ref, got, atol=1e-4, rtol=1e-4):
        raise TypeError(
            "the traced graph does not reproduce the model's output (an operation was "
            "traced as constant); certifiers cannot handle this model"
        )
    return graph
