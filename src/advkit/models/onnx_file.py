"""Reading an ONNX file and the interface it declares: one float32 input, one output.

Problem solved: before converting or running an ONNX classifier, advkit needs the file's
input (name, per-sample shape, whether the batch size is fixed), its output and its opset,
and a clear refusal of files it cannot take: not ONNX, an opset outside
:data:`OPSETS`, several inputs or outputs, a non-float32 input, or an input whose
per-sample dimensions are not fixed. The batch dimension (the first) may be free.

Example:
    >>> from advkit.models.onnx_file import OPSETS
    >>> OPSETS
    (9, 21)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from advkit.extras import require
from advkit.models.onnx_builder import OnnxImportError

if TYPE_CHECKING:
    import onnx

__all__ = ["OPSETS", "OnnxFile", "as_onnx_file", "read_onnx"]

"""The command that installs the ONNX support (``onnx`` and ``onnxruntime``)."""

OPSETS = (9, 21)
"""The default-domain (``ai.onnx``) opsets advkit converts, both ends included."""


@dataclass(frozen=True)
class OnnxFile:
    """A checked ONNX model and its declared interface.

    Attributes:
        source: the file, for messages.
        model: the parsed ``onnx.ModelProto``.
        input_name: the graph's only input (initializers excluded).
        input_shape: the input's shape for one sample, e.g. ``(1, 28, 28)``.
        batch: the batch size the file fixes, or None when it is free.
        output_name: the graph's only output.
        opset: the default domain's opset version.
    """

    source: str
    model: onnx.ModelProto
    input_name: str
    input_shape: tuple[int, ...]
    batch: int | None
    output_name: str
    opset: int


def read_onnx(path: str | Path) -> OnnxFile:
    """Parse and check an ONNX file.

    Args:
        path: an ``.onnx`` file (external data next to it is read too).

    Raises:
        FileNotFoundError: no such file.
        OnnxImportError: not a valid ONNX model, or outside what advkit converts (the
            message says what and how to fix it).
        advkit.extras.MissingExtraError: the ``onnx`` package is not installed.
    """
    onnx_lib = require("onnx", "onnx", "reading ONNX models")
    source = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"ONNX model {source} does not exist.")
    try:
        model = onnx_lib.load(source)
        onnx_lib.checker.check_model(model)
    except Exception as err:  # protobuf, checker and I/O errors have no common base
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OnnxImportError(
            f"{source} is not a valid ONNX model ({reason}); export it again "
            "(torch.onnx.export) or check the path."
        ) from err
    opset = _opset(model, source)
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise OnnxImportError(
            f"{source} has {len(inputs)} inputs and {len(graph.output)} outputs; advkit "
            "needs a classifier with one input (the images) and one output (the logits)."
        )
    shape, batch = _input_shape(inputs[0], source)
    return OnnxFile(source, model, inputs[0].name, shape, batch, graph.output[0].name, opset)


def as_onnx_file(source: str | Path | OnnxFile) -> OnnxFile:
    """``source`` itself when already read, else :func:`read_onnx` of it."""
    return source if isinstance(source, OnnxFile) else read_onnx(source)


def _opset(model: onnx.ModelProto, source: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    lo, hi = OPSETS
    if not versions or not lo <= versions[0] <= hi:
        found = f"opset {versions[0]}" if versions else "no default-domain opset"
        raise OnnxImportError(
            f"{source} uses {found}; advkit converts opsets {lo} to {hi}: re-export the "
            f"model with one of them (torch.onnx.export(..., opset_version={min(17, hi)}))."
        )
    return int(versions[0])


def _input_shape(value: onnx.ValueInfoProto, source: str) -> tuple[tuple[int, ...], int | None]:
    """The per-sample shape and the fixed batch size (None when free) of ``value``."""
    from onnx import TensorProto

    tensor = value.type.tensor_type
    if tensor.elem_type != TensorProto.FLOAT:
        name = TensorProto.DataType.Name(tensor.elem_type)
        raise OnnxImportError(
            f"{source}: input {value.name!r} has type {name}; advkit needs a float32 input."
        )
    dims = list(tensor.shape.dim)
    if len(dims) < 2:
        raise OnnxImportError(
            f"{source}: input {value.name!r} has {len(dims)} dimension(s); advkit needs a "
            "batch dimension followed by the sample's (e.g. [N, 784] or [N, 1, 28, 28])."
        )
    for i, d in enumerate(dims[1:], start=1):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise OnnxImportError(
                f"{source}: dimension {i} of input {value.name!r} is not fixed "
                f"({d.dim_param or '?'}); advkit needs a fixed per-sample shape: export the "
                "model with only the batch dimension dynamic."
            )
    first = dims[0]
    batch = int(first.dim_value) if first.HasField("dim_value") and first.dim_value > 0 else None
    return tuple(int(d.dim_value) for d in dims[1:]), batch
