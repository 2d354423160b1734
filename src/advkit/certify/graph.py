"""A classifier as a graph of certifier operators, traced with ``torch.fx``.

Problem solved: bound propagation (IBP, CROWN, MIP encodings) needs to see a network as a
directed acyclic graph of simple operations, whatever Python code builds it. The model is
traced with ``torch.fx`` (so it need not be an ``nn.Sequential``) and each call is lowered
to the operator of :data:`advkit.certify.ops.OPERATORS` that declares its module type,
function or method:

- ``affine`` (:class:`~advkit.certify.ops.AffineOp`): ``Linear``, ``Conv2d``, ``BatchNorm``
  (eval), ``AvgPool2d``, advkit's ``Normalize``, ``Flatten``/``reshape``/``view``,
  ``Identity`` and ``Dropout`` (eval);
- ``relu``: ``nn.ReLU``, ``torch.relu``, ``F.relu``, ``Tensor.relu``;
- ``sigmoid``/``tanh``: ``nn.Sigmoid``/``nn.Tanh``, ``torch.sigmoid``/``torch.tanh``, the
  tensor methods;
- ``maxpool``: ``nn.MaxPool2d``, ``F.max_pool2d`` (no dilation, no ceil mode);
- ``add``: the sum of two nodes (residual connections);
- ``affine`` (:class:`~advkit.certify.ops.ConstantArithmetic`): the constant ``Add``/``Sub``/
  ``Mul``/``Div`` layers of advkit's ONNX converter.

Anything else raises a ``TypeError`` naming the operation. The operators hold the model's
parameters themselves (not copies), so bounds are differentiable with respect to them
(certified training).

Example:
    >>> import torch
    >>> from advkit.certify.graph import trace
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU())
    >>> [n.kind for n in trace(net, torch.zeros(1, 2, 2)).nodes]
    ['input', 'affine', 'affine', 'relu']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, fx, nn

from advkit.certify.ops import OPERATORS, Call, Input, Operator, describe, operator_for
from advkit.models.normalize import Normalize

__all__ = ["Graph", "Node", "trace"]

T = TypeVar("T")


@dataclass(eq=False)
class Node:
    """One operation: ``op`` is its operator; ``inputs`` index earlier nodes (none for the
    input node); ``shape`` is the per-sample output shape."""

    name: str
    op: Operator
    inputs: list[int]
    shape: tuple[int, ...]

    @property
    def kind(self) -> str:
        """The operator's family: input/affine/relu/maxpool/add."""
        return self.op.kind

    def arguments(self, values: Sequence[T], source: T) -> list[T]:
        """The operator's arguments: the input nodes' ``values``, or ``source`` (what is
        fed to the graph) for the input node."""
        return [values[j] for j in self.inputs] if self.inputs else [source]


@dataclass(eq=False)
class Graph:
    """Nodes in topological order; the first one is the input, the last one the logits."""

    nodes: list[Node]

    def forward(self, x: Tensor) -> Tensor:
        """Evaluate the graph (equals the traced model's forward)."""
        values: list[Tensor] = []
        for node in self.nodes:
            values.append(node.op.forward(*node.arguments(values, x)))
        return values[-1]

    def nonlinear(self) -> list[int]:
        """Indices of the nodes whose relaxation needs input bounds (ReLU, max pooling)."""
        return [i for i, n in enumerate(self.nodes) if n.op.nonlinear]


class _Tracer(fx.Tracer):
    """Keeps every module an operator lowers as one call (not traced through)."""

    def __init__(self, operators: tuple[type[Operator], ...]) -> None:
        super().__init__()
        self.leaves = tuple(m for op in operators for m in op.modules)

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        leaf = isinstance(m, (Normalize, *self.leaves))
        return leaf or super().is_leaf_module(m, qualname)


class _Lowering:
    """The nodes built so far while lowering an ``fx`` graph, with example values."""

    def __init__(
        self, model: nn.Module, example: Tensor, operators: tuple[type[Operator], ...]
    ) -> None:
        self.modules = dict(model.named_modules())
        self.example = example
        self.operators = operators
        self.nodes: list[Node] = []
        self.values: list[Tensor] = []
        self.where: dict[str, int] = {}

    def visit(self, n: fx.Node) -> None:
        """Lower one ``fx`` node."""
        if n.op == "placeholder":
            if self.nodes:
                raise TypeError("certifiers need a model with a single input tensor")
            self._add(n.name, Input(), [])
        elif n.op == "output":
            self._output(n.args[0])
        elif n.op in ("call_module", "call_function", "call_method"):
            self._call(n)
        else:
            raise TypeError(
                f"node {n.name} ({n.op} {n.target}) is not supported by advkit's certifiers"
            )

    def _add(self, name: str, op: Operator, inputs: list[int]) -> None:
        node = Node(name, op, inputs, ())
        value = op.forward(*node.arguments(self.values, self.example))
        node.shape = tuple(value.shape[1:])
        self.where[name] = len(self.nodes)
        self.nodes.append(node)
        self.values.append(value)

    def _output(self, out: object) -> None:
        if not isinstance(out, fx.Node):
            raise TypeError("certifiers need a model returning one tensor of logits")
        if self.where[out.name] != len(self.nodes) - 1:
            raise TypeError("the output must be the last operation of the model")

    def _arg(self, a: object, what: str) -> int:
        if not isinstance(a, fx.Node) or a.name not in self.where:
            raise TypeError(f"{what}: certifiers need tensor arguments from the graph, got {a!r}")
        return self.where[a.name]

    def _call(self, n: fx.Node) -> None:
        module = self.modules[str(n.target)] if n.op == "call_module" else None
        target: object = module if module is not None else n.target
        tgt = n.target
        label = tgt if isinstance(tgt, str) else getattr(tgt, "__name__", repr(tgt))
        op = operator_for(self.operators, target)
        if op is None:
            supported = describe(self.operators)
            if module is not None:
                raise TypeError(
                    f"layer {tgt} ({type(module).__name__}) is not supported by advkit's "
                    f"certifiers; supported: {supported}"
                )
            raise TypeError(
                f"operation {label} (node {n.name}) is not supported by advkit's "
                f"certifiers; supported: {supported}"
            )
        srcs = [self._arg(a, label) for a in n.args[: op.arity]]
        call = Call(
            str(tgt) if module is not None else n.name,
            tuple(self.values[s] for s in srcs),
            module,
            target,
            tuple(n.args[op.arity :]),
            dict(n.kwargs),
        )
        self._add(n.name, op.lower(call), srcs)


def _fx_graph(model: nn.Module, operators: tuple[type[Operator], ...]) -> fx.Graph:
    try:
        return _Tracer(operators).trace(model)
    except Exception as err:  # fx raises many kinds of errors on dynamic control flow
        raise TypeError(
            f"torch.fx could not trace the model for certification ({err}); certifiers need "
            "a model without data-dependent control flow"
        ) from err


def trace(
    model: nn.Module, example: Tensor, operators: tuple[type[Operator], ...] = OPERATORS
) -> Graph:
    """Trace ``model`` into a :class:`Graph`, checking it against a forward pass.

    Args:
        model: a classifier in eval mode.
        example: one or more inputs (N, ...) used for shapes and the consistency check.
        operators: the operator table to lower calls with (default: all of advkit's).

    Raises:
        TypeError: the model uses an operation certifiers do not support (named).
    """
    ex = example[:1].detach()
    lowering = _Lowering(model, ex, operators)
    for n in _fx_graph(model, operators).nodes:
        lowering.visit(n)
    graph = Graph(lowering.nodes)
    with torch.no_grad():
        ref, got = model(ex), graph.forward(ex)
    if ref.shape != got.shape or not torch.allclose(ref, got, atol=1e-4, rtol=1e-4):
        raise TypeError(
            "the traced graph does not reproduce the model's output (an operation was "
            "traced as constant); certifiers cannot handle this model"
        )
    return graph
