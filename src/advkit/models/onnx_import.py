"""ONNX classifiers as torch modules: advkit's own strict converter, checked before use.

Problem solved: models shared for verification competitions (VNN-COMP) and robustness
leaderboards come as ONNX files. :func:`load_onnx` converts one into a ``torch.fx``
``GraphModule`` of standard torch layers (see :mod:`advkit.models.onnx_ops` for the
operators: convolutions, batch normalization, pooling, ReLU/LeakyReLU/Sigmoid/Tanh,
Gemm/MatMul, Flatten/Reshape/Transpose, constant Add/Sub/Mul/Div, residual Add,
Identity/Dropout), then compares it with onnxruntime on random inputs in the input box
(:func:`~advkit.models.onnx_check.check_conversion`) and refuses it on any mismatch.

Scope: default-domain opsets 9 to 21 (:data:`~advkit.models.onnx_file.OPSETS`), one
float32 input whose first dimension is the batch (free or fixed; the converted model takes
any batch size) and whose other dimensions are fixed, one output (the logits). Every
unsupported operator is reported at once with its nodes and the supported set; a model
ending in Softmax is refused (it returns probabilities where logits are expected). The
converted module has no Python branch on tensor values, so ``torch.fx.symbolic_trace``
traces it. It needs the ``onnx`` and ``onnxruntime`` packages:
``pip install 'advkit[onnx]'``.

Example:
    >>> from advkit.models.onnx_import import load_onnx
    >>> model = load_onnx("mnist_mlp.onnx")  # doctest: +SKIP
    >>> model(torch.rand(5, 1, 28, 28)).shape  # doctest: +SKIP
    torch.Size([5, 10])
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from torch import fx, nn

from advkit.models.onnx_builder import Builder, OnnxImportError
from advkit.models.onnx_check import check_conversion
from advkit.models.onnx_file import OPSETS, OnnxFile, as_onnx_file, read_onnx
from advkit.models.onnx_ops import CONVERTERS, supported

__all__ = ["CONVERTERS", "convert_onnx", "load_onnx", "onnx_input_shape"]


def load_onnx(path: str | Path, *, box: tuple[float, float] = (0.0, 1.0)) -> nn.Module:
    """Convert an ONNX classifier and check it against onnxruntime.

    Args:
        path: the ``.onnx`` file.
        box: the range of the values the model's input takes (``(0, 1)`` for images fed
            to the model as they are); the check draws its inputs there.

    Returns:
        The converted model in eval mode, taking inputs of the ONNX input's layout.

    Raises:
        OnnxImportError: the file is not ONNX, uses an operator, attribute or opset advkit
            does not convert (all named), or the conversion differs from onnxruntime.
        advkit.extras.MissingExtraError: ``onnx`` or ``onnxruntime`` is missing.
    """
    f = read_onnx(path)
    model = convert_onnx(f)
    check_conversion(model, f, box=box)
    return model


def convert_onnx(source: str | Path | OnnxFile) -> fx.GraphModule:
    """Convert an ONNX classifier without checking it (see :func:`load_onnx`).

    Raises:
        OnnxImportError: the file is outside the converted subset (named).
    """
    from onnx import numpy_helper

    f = as_onnx_file(source)
    _refuse_unsupported(f)
    builder = Builder(f.source, f.input_name, f.input_shape, f.batch, (f.output_name,))
    for weight in f.model.graph.initializer:
        builder.values[weight.name] = numpy_helper.to_array(weight)
    for node in f.model.graph.node:
        CONVERTERS[node.op_type](builder, node)
    return builder.finish(f.output_name)


def onnx_input_shape(path: str | Path) -> tuple[int, ...]:
    """The per-sample input shape an ONNX file declares, e.g. ``(1, 28, 28)``."""
    return read_onnx(path).input_shape


def _refuse_unsupported(f: OnnxFile) -> None:
    """Name every operator of ``f`` outside :data:`CONVERTERS`, with its nodes."""
    missing: dict[str, list[str]] = defaultdict(list)
    for i, node in enumerate(f.model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in CONVERTERS:
            op = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
            missing[op].append(node.name or f"#{i}")
    if missing:
        found = "; ".join(
            f"{op} (node{'s' if len(nodes) > 1 else ''} {', '.join(map(repr, nodes))})"
            for op, nodes in sorted(missing.items())
        )
        raise OnnxImportError(
            f"{f.source}: unsupported ONNX operator(s): {found}. advkit converts "
            f"{supported(CONVERTERS)} (opsets {OPSETS[0]} to {OPSETS[1]}): export the "
            "model with these operators, or save it as TorchScript instead."
        )
