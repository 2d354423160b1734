"""ONNX files in: advkit's own converter equals the exported torch model, traces with
torch.fx, refuses unsupported operators and probabilities, and is checked against
onnxruntime before use."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import pytest
import torch
from onnx import helper, numpy_helper
from onnx_support import (
    ChannelsLast,
    Residual,
    cnn,
    export,
    graph_file,
    matrix,
    mlp,
    squashing_mlp,
    trained_like,
)
from torch import fx, nn

from advkit.certify.graph import trace
from advkit.extras import MissingExtraError
from advkit.models import load_model
from advkit.models import onnx_import as onnx_import_module
from advkit.models.onnx_builder import OnnxImportError
from advkit.models.onnx_check import check_conversion
from advkit.models.onnx_import import convert_onnx, load_onnx, onnx_input_shape

MODELS: dict[str, Callable[[], nn.Module]] = {
    "mlp": mlp,
    "cnn-bn-pool": cnn,
    "residual": Residual,
    "sigmoid-tanh": squashing_mlp,
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic-batch", "batch-1"])
def test_converted_model_equals_the_original(name: str, dynamic: bool, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = trained_like(MODELS[name]())
    path = export(reference, tmp_path / f"{name}.onnx", dynamic=dynamic)
    model = load_onnx(path)
    assert not model.training
    x = torch.rand(5, 1, 8, 8)  # a batch of 5 even when the file fixes the batch at 1
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)
        traced = fx.symbolic_trace(model)
        torch.testing.assert_close(traced(x), reference(x), atol=1e-5, rtol=1e-5)


def test_older_opset_and_load_model(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = trained_like(Residual())
    path = export(reference, tmp_path / "residual-opset11.onnx", opset=11)
    model = load_model(path)
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)
    assert onnx_input_shape(path) == (1, 8, 8)


def test_channels_last_input_keeps_its_transpose(tmp_path: Path) -> None:
    torch.manual_seed(2)
    reference = ChannelsLast().eval()
    path = export(reference, tmp_path / "nhwc.onnx", shape=(8, 8, 1))
    assert onnx_input_shape(path) == (8, 8, 1)
    x = torch.rand(4, 8, 8, 1)
    with torch.no_grad():
        torch.testing.assert_close(load_onnx(path)(x), reference(x), atol=1e-5, rtol=1e-5)


def test_gemm_attributes_and_matmul(tmp_path: Path) -> None:
    """transA = 0, transB = 0, alpha and beta scale the product and the bias."""
    gemm = helper.make_node(
        "Gemm", ["x", "w", "c"], ["h"], name="gemm", alpha=0.5, beta=2.0, transB=0
    )
    relu = helper.make_node("Relu", ["h"], ["r"], name="relu")
    matmul = helper.make_node("MatMul", ["r", "w2"], ["y"], name="matmul")
    inits = [matrix("w", 4, 6), matrix("c", 1, 6, seed=1), matrix("w2", 6, 3, seed=2)]
    path = graph_file(tmp_path / "gemm.onnx", [gemm, relu, matmul], inits)
    x = torch.rand(7, 4)
    w, c, w2 = (torch.tensor(numpy_helper.to_array(t)) for t in inits)
    expected = torch.relu(0.5 * x @ w + 2.0 * c) @ w2
    with torch.no_grad():
        torch.testing.assert_close(load_onnx(path)(x), expected, atol=1e-5, rtol=1e-5)


def test_vnncomp_style_file_with_a_fixed_batch(tmp_path: Path) -> None:
    """Batch fixed at 1, normalization by Sub/Div constants, Reshape to [1, 64], MatMul
    plus a bias Add, a constant minus the data, and a Gemm with transB."""
    shape = helper.make_tensor("shape", 7, [2], [1, 64])  # int64
    nodes = [
        helper.make_node("Constant", [], ["mean"], value=helper.make_tensor("m", 1, [1], [0.1])),
        helper.make_node("Sub", ["x", "mean"], ["centered"], name="center"),
        helper.make_node("Div", ["centered", "std"], ["scaled"], name="scale"),
        helper.make_node("Reshape", ["scaled", "shape"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "w1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu"),
        helper.make_node("Sub", ["one", "r"], ["flipped"], name="flip"),
        helper.make_node("Gemm", ["flipped", "w2"], ["y"], name="fc2", transB=1),
    ]
    inits = [
        shape,
        helper.make_tensor("std", 1, [1], [0.3]),
        helper.make_tensor("one", 1, [], [1.0]),
        matrix("w1", 64, 16),
        matrix("b1", 1, 16, seed=1),
        matrix("w2", 10, 16, seed=2),
    ]
    path = graph_file(tmp_path / "vnn.onnx", nodes, inits, shape=(1, 1, 8, 8), opset=13)
    w1, b1, w2 = (torch.tensor(numpy_helper.to_array(t)) for t in inits[3:])
    x = torch.rand(6, 1, 8, 8)
    hidden = torch.relu(((x - 0.1) / 0.3).flatten(1) @ w1 + b1)
    with torch.no_grad():
        model = load_onnx(path)
        torch.testing.assert_close(model(x), (1.0 - hidden) @ w2.T, atol=1e-5, rtol=1e-5)


def test_relu_networks_trace_for_the_certifiers(tmp_path: Path) -> None:
    """A converted Conv/ReLU/MaxPool/Gemm network lowers to advkit's certifier graph."""
    torch.manual_seed(5)
    reference = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)
    ).eval()
    graph = trace(load_onnx(export(reference, tmp_path / "relu.onnx")), torch.zeros(1, 1, 8, 8))
    assert [n.kind for n in graph.nodes] == [
        "input", "affine", "relu", "maxpool", "affine", "affine"
    ]  # fmt: skip
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(graph.forward(x), reference(x), atol=1e-5, rtol=1e-5)


def test_unsupported_operators_are_named_with_their_nodes(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Cos", ["x"], ["a"], name="cosine"),
        helper.make_node("Erf", ["a"], ["b"], name="erf1"),
        helper.make_node("Erf", ["b"], ["y"], name="erf2"),
    ]
    path = graph_file(tmp_path / "odd.onnx", nodes, [])
    with pytest.raises(OnnxImportError) as info:
        load_onnx(path)
    message = str(info.value)
    assert "Cos (node 'cosine')" in message
    assert "Erf (nodes 'erf1', 'erf2')" in message
    assert "supported" in message and "Conv" in message and "Gemm" in message


def test_softmax_at_the_output_is_refused(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
        helper.make_node("Softmax", ["h"], ["y"], name="probs", axis=1),
    ]
    path = graph_file(tmp_path / "softmax.onnx", nodes, [matrix("w", 4, 3)])
    with pytest.raises(OnnxImportError, match="probabilities where logits are expected"):
        load_onnx(path)


@pytest.mark.parametrize(
    ("nodes", "inits", "shape", "opset", "match"),
    [
        ([helper.make_node("Relu", ["x"], ["y"])], [], (None, 4), 8, "opset 8.*9 to 21"),
        ([helper.make_node("Relu", ["x"], ["y"])], [], (None, "n"), 17, "dimension 1"),
        (
            [helper.make_node("Reshape", ["x", "s"], ["y"], name="flat_all")],
            [helper.make_tensor("s", 7, [1], [-1])],
            (2, 4),
            17,
            "'flat_all'.*batch",
        ),
        (
            [helper.make_node("Mul", ["x", "x"], ["y"], name="square")],
            [],
            (None, 4),
            17,
            "'square'.*two tensors",
        ),
    ],
    ids=["old-opset", "free-dimension", "reshape-across-batch", "product-of-inputs"],
)
def test_files_outside_the_subset_are_refused(
    tmp_path: Path,
    nodes: list[object],
    inits: list[object],
    shape: tuple[int | str | None, ...],
    opset: int,
    match: str,
) -> None:
    path = graph_file(tmp_path / "bad.onnx", nodes, inits, shape=shape, opset=opset)
    with pytest.raises(OnnxImportError, match=match):
        load_onnx(path)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a protobuf at all")
    with pytest.raises(OnnxImportError, match="not a valid ONNX model"):
        load_onnx(path)


def test_a_wrong_conversion_is_refused_with_the_difference(tmp_path: Path) -> None:
    """The check compares with onnxruntime: a perturbed weight is caught."""
    torch.manual_seed(3)
    path = export(mlp().eval(), tmp_path / "mlp.onnx")
    model = convert_onnx(path)
    with torch.no_grad():
        next(model.parameters())[0, 0] += 0.5
    with pytest.raises(OnnxImportError, match=r"max difference [0-9.e-]+ .*tolerance"):
        check_conversion(model, path)


def test_a_mishandled_operator_fails_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A converter table that maps Relu to LeakyReLU: load_onnx refuses the result."""
    torch.manual_seed(4)
    path = export(mlp().eval(), tmp_path / "mlp.onnx")
    table = dict(onnx_import_module.CONVERTERS)
    table["Relu"] = lambda b, node: b.add_module(node, nn.LeakyReLU(0.5), b.dynamic(node, 0))
    monkeypatch.setattr(onnx_import_module, "CONVERTERS", MappingProxyType(table))
    with pytest.raises(OnnxImportError, match="differs from onnxruntime"):
        load_onnx(path)


def test_onnxruntime_missing_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = export(mlp().eval(), tmp_path / "mlp.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'advkit\[onnx\]'"):
        load_onnx(path)
