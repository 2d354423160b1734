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

from advkit.models.onnx_check import ort_session
from advkit.models.onnx_file import read_onnx

__all__ = ["Reference", "onnx_reference"]

Reference = Callable[[np.ndarray], np.ndarray]
"""Flat float32 input (D,) → flat float32 output (M,)."""


def onnx_reference(path: str | Path) -> Reference:
    """A function running the ONNX file ``path`` with onnxruntime on one flat input.

    Raises:
        advkit.models.onnx_builder.OnnxImportError: onnxruntime cannot load the file.
        advkit.extras.MissingExtraError: onnxruntime is not installed.
    """
    f = read_onnx(path)
    session = ort_session(f, "re-checking counterexamples with onnxruntime")
    batch = f.batch or 1

    def run(x: np.ndarray) -> np.ndarray:
        xs = np.repeat(x.astype(np.float32).reshape(1, *f.input_shape), batch, axis=0)
        (y,) = session.run([f.output_name], {f.input_name: xs})
        return np.asarray(y, dtype=np.float32)[:1].reshape(-1)

    return run
