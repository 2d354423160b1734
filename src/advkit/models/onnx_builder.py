"""The state of an ONNX-to-torch conversion: the values computed so far and the
``torch.fx`` graph being built.

Problem solved: converting an ONNX graph node by node needs, for every ONNX value, either
its constant (initializers, ``Constant`` nodes, shape computations folded at conversion
time) or the ``fx`` node that computes it from the model input, with an example of it to
read shapes from. :class:`Builder` keeps both, adds modules and functions to the graph,
and turns the result into an ``fx.GraphModule``: a plain module of standard layers that
``torch.fx`` traces symbolically.

A tensor's shape in the model input's batch dimension is never fixed: constants folded
from ``Shape`` hold :data:`BATCH` where the batch size goes.

Example:
    >>> import torch
    >>> from advkit.models.onnx_builder import Builder
    >>> b = Builder("model.onnx", "x", (3,), None)
    >>> b.values["x"].example.shape
    torch.Size([1, 3])
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, fx, nn

if TYPE_CHECKING:
    import onnx

__all__ = ["BATCH", "Builder", "Dynamic", "OnnxImportError", "Value", "attributes"]

BATCH = -(2**62)
"""Stands for the batch size in shape vectors folded at conversion time."""


class OnnxImportError(ValueError):
    """An ONNX file advkit cannot convert, or whose conversion does not match onnxruntime."""


@dataclass(frozen=True)
class Dynamic:
    """A value computed from the model input.

    Attributes:
        node: the ``fx`` node computing it.
        example: its value on an example batch of one input (shape ``(1, ...)``).
    """

    node: fx.Node
    example: Tensor

    @property
    def shape(self) -> tuple[int, ...]:
        """Its shape for one sample (without the batch dimension)."""
        return tuple(self.example.shape[1:])


Value = Dynamic | np.ndarray
"""An ONNX value during conversion: computed from the input, or a constant."""


class Builder:
    """The values and the ``fx`` graph of one conversion.

    Args:
        source: the file converted, for messages.
        input_name: the ONNX graph's input.
        input_shape: the input's shape for one sample.
        batch: the input's batch size when the file fixes it, else None.
        outputs: the ONNX graph's output names.
    """

    def __init__(
        self,
        source: str,
        input_name: str,
        input_shape: tuple[int, ...],
        batch: int | None,
        outputs: tuple[str, ...] = (),
    ) -> None:
        self.source = source
        self.batch = batch
        self.outputs = outputs
        self.graph = fx.Graph()
        self.root = nn.Module()
        x = self.graph.placeholder("x")
        self.values: dict[str, Value] = {input_name: Dynamic(x, torch.zeros(1, *input_shape))}

    def fail(self, node: onnx.NodeProto, reason: str) -> OnnxImportError:
        """The error for ``node``: the file, the node's name and operator, ``reason``."""
        return OnnxImportError(f"{self.source}: node {node.name!r} ({node.op_type}): {reason}")

    def value(self, node: onnx.NodeProto, i: int) -> Value:
        """The ``i``-th input of ``node``."""
        if i >= len(node.input) or not node.input[i]:
            raise self.fail(node, f"input {i} is missing")
        name = node.input[i]
        if name not in self.values:
            raise self.fail(node, f"input {name!r} is not computed before this node")
        return self.values[name]

    def dynamic(self, node: onnx.NodeProto, i: int) -> Dynamic:
        """The ``i``-th input of ``node``, which must be computed from the model input."""
        v = self.value(node, i)
        if not isinstance(v, Dynamic):
            raise self.fail(node, f"input {i} is a constant; advkit expects the model's data")
        return v

    def weight(self, node: onnx.NodeProto, i: int) -> np.ndarray:
        """The ``i``-th input of ``node``, which must be a constant (an initializer)."""
        v = self.value(node, i)
        if isinstance(v, Dynamic):
            raise self.fail(
                node,
                f"input {i} ({node.input[i]!r}) is computed from the model input; advkit "
                "converts only weights stored in the file (initializers or constants)",
            )
        return v

    def optional_weight(self, node: onnx.NodeProto, i: int) -> np.ndarray | None:
        """The ``i``-th input as a constant, or None when the node omits it."""
        has = i < len(node.input) and bool(node.input[i])
        return self.weight(node, i) if has else None

    def add_module(self, node: onnx.NodeProto, module: nn.Module, x: Dynamic) -> None:
        """Apply ``module`` to ``x``; its result is the node's first output."""
        module.eval()
        name = self._module_name(node)
        self.root.add_module(name, module)
        self._set(node, self.graph.call_module(name, (x.node,)), lambda: module(x.example))

    def add_function(self, node: onnx.NodeProto, fn: Callable[..., Tensor], *xs: Dynamic) -> None:
        """Apply ``fn`` to the values ``xs``; its result is the node's first output."""
        fx_node = self.graph.call_function(fn, tuple(x.node for x in xs))
        self._set(node, fx_node, lambda: fn(*(x.example for x in xs)))

    def set_constant(self, node: onnx.NodeProto, value: np.ndarray) -> None:
        """The node's first output is the constant ``value`` (folded at conversion)."""
        self.values[node.output[0]] = np.asarray(value)

    def alias(self, node: onnx.NodeProto, value: Value) -> None:
        """The node's first output is ``value`` itself (Identity, Dropout at inference)."""
        self.values[node.output[0]] = value

    def is_output(self, name: str) -> bool:
        """Whether the ONNX value ``name`` is an output of the graph."""
        return name in self.outputs

    def finish(self, output: str) -> fx.GraphModule:
        """The converted model, returning the ONNX value ``output``, in eval mode."""
        v = self.values.get(output)
        if not isinstance(v, Dynamic):
            raise OnnxImportError(
                f"{self.source}: the output {output!r} does not depend on the model input; "
                "advkit needs a classifier whose logits are computed from its input."
            )
        self.graph.output(v.node)
        self.graph.lint()
        return fx.GraphModule(self.root, self.graph, class_name="OnnxModel").eval()

    def _set(self, node: onnx.NodeProto, fx_node: fx.Node, run: Callable[[], Tensor]) -> None:
        try:
            with torch.no_grad():
                example = run()
        except RuntimeError as err:
            reason = str(err).splitlines()[0]
            raise self.fail(node, f"the converted layer rejects its input ({reason})") from err
        self.values[node.output[0]] = Dynamic(fx_node, example)

    def _module_name(self, node: onnx.NodeProto) -> str:
        base = re.sub(r"\W+", "_", node.name or node.op_type).strip("_") or node.op_type
        base = base if base[0].isalpha() else f"n_{base}"
        name, k = base, 1
        while hasattr(self.root, name):
            k += 1
            name = f"{base}_{k}"
        return name


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """The attributes of ``node`` as Python values (strings decoded)."""
    from onnx import helper

    found = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        found[a.name] = value.decode() if isinstance(value, bytes) else value
    return found
