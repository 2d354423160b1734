"""Networks converted from ONNX trace into the certifiers' graph, constant arithmetic,
BatchNorm, pooling and residual additions included; an operation the certifiers lack is
named."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from advkit.certify.bounds import crown_bounds
from advkit.certify.box_set import BoxSet
from advkit.certify.graph import Graph, trace
from advkit.certify.ops import ConstantArithmetic
from advkit.certify.vnn_export import export_onnx as export
from advkit.certify.vnn_network import load_network
from advkit.models.onnx_builder import OnnxImportError
from advkit.models.onnx_import import load_onnx
from vnn_cases import SmallCNN, seeded


def test_a_converted_cnn_traces_and_its_bounds_hold(tmp_path: Path) -> None:
    model = seeded(SmallCNN(), 0)
    converted = load_onnx(export(model, tmp_path / "cnn.onnx", (1, 4, 4)))
    graph = trace(converted, torch.zeros(1, 1, 4, 4))
    kinds = [n.kind for n in graph.nodes]
    assert {"relu", "maxpool", "add"} <= set(kinds)
    assert sum(isinstance(n.op, ConstantArithmetic) for n in graph.nodes) == 3  # −, /, ×
    x = torch.rand(64, 1, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(graph.forward(x), model(x), atol=1e-5, rtol=1e-5)
        lo, hi = x.min(0, keepdim=True).values, x.max(0, keepdim=True).values
        bounds = crown_bounds(graph, BoxSet(lo, hi))
        for i, (lower, upper) in bounds.items():  # every sample's pre-activations lie inside
            pre = _values(graph, x, graph.nodes[i].inputs[0])
            assert bool((pre >= lower - 1e-5).all() and (pre <= upper + 1e-5).all())


def _values(graph: Graph, x: torch.Tensor, index: int) -> torch.Tensor:
    """The output of node ``index`` on the batch x."""
    values: list[torch.Tensor] = []
    for node in graph.nodes[: index + 1]:
        values.append(node.op.forward(*node.arguments(values, x)))
    return values[index]


def _onnx_of(path: Path, op: str) -> Path:
    nodes = [helper.make_node(op, ["x"], ["y"], name=f"the_{op.lower()}")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_an_onnx_operator_advkit_does_not_convert_is_named(tmp_path: Path) -> None:
    with pytest.raises(OnnxImportError, match=r"Erf \(node 'the_erf'\)"):
        load_network(_onnx_of(tmp_path / "erf.onnx", "Erf"))


def test_an_operation_the_certifiers_lack_is_named(tmp_path: Path) -> None:
    path = export(nn.Sequential(nn.Linear(3, 3), nn.LeakyReLU()), tmp_path / "leaky.onnx", (3,))
    with pytest.raises(TypeError, match=r"LeakyReLU\) is not supported by advkit's certifiers"):
        load_network(path)
