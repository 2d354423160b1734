"""onnxruntime as the judge of counterexamples: the competition's checker runs the ONNX
file itself, so a ``sat`` answer must hold there too, not only in advkit's conversion.

Example:
    >>> from advkit.certify.vnn_reference import onnx_reference
    >>> run = onnx_reference("net.onnx")  # doctest: +SKIP
    >>> run(np.zeros(4, np.float32))  # doctest: +SKIP
    array([...], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from advkit.extras import require
from advkit.models.onnx_builder import OnnxImportError
from advkit.models.onnx_file import read_onnx

__all__ = ["Reference", "onnx_reference"]

Reference = Callable[[np.ndarray], np.ndarray]
"""Flat float32 input (D,) → flat float32 output (M,)."""


def onnx_reference(path: str | Path) -> Reference:
    """A function running the ONNX file ``path`` with onnxruntime on one flat input.

    Raises:
        OnnxImportError: onnxruntime cannot load the file.
        advkit.extras.MissingExtraError: onnxruntime is not installed.
    """
    ort = require("onnxruntime", "onnx", "re-checking counterexamples with onnxruntime")
    f = read_onnx(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: shape-inference warnings are not ours
    try:
        session = ort.InferenceSession(
            f.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own exception types
        raise OnnxImportError(f"onnxruntime cannot load {f.source}: {err}") from err
    batch = f.batch or 1

    def run(x: np.ndarray) -> np.ndarray:
        xs = np.repeat(x.astype(np.float32).reshape(1, *f.input_shape), batch, axis=0)
        (y,) = session.run([f.output_name], {f.input_name: xs})
        return np.asarray(y, dtype=np.float32)[:1].reshape(-1)

    return run
