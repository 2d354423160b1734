"""Checking a converted ONNX model against onnxruntime before it is used.

Problem solved: a conversion that silently changes the network would make every robust
accuracy measured on it wrong. :func:`check_conversion` runs the converted module and
onnxruntime (the reference implementation of ONNX) on a few batches of random inputs in
the declared input box — uniform draws and box corners — and refuses the module when the
largest difference exceeds a float32 tolerance, relative to the size of the logits.

Example:
    >>> from advkit.models.onnx_check import TOLERANCE
    >>> TOLERANCE
    0.0001
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from advkit.extras import require
from advkit.models.onnx_builder import OnnxImportError
from advkit.models.onnx_file import OnnxFile, as_onnx_file

__all__ = ["TOLERANCE", "check_conversion", "ort_session"]

TOLERANCE = 1e-4
"""Largest accepted |converted − onnxruntime|, relative to max(1, largest |logit|)."""


def ort_session(f: OnnxFile, purpose: str) -> Any:
    """An onnxruntime CPU session of the ONNX file ``f`` (errors only in its log).

    Raises:
        OnnxImportError: onnxruntime cannot load the file.
        advkit.extras.MissingExtraError: onnxruntime is not installed (``purpose`` says
            what needed it).
    """
    ort = require("onnxruntime", "onnx", purpose)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: shape-inference warnings are not ours
    try:
        return ort.InferenceSession(
            f.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own exception types
        raise OnnxImportError(f"onnxruntime cannot load {f.source}: {err}") from err


def check_conversion(
    module: nn.Module,
    source: str | Path | OnnxFile,
    *,
    box: tuple[float, float] = (0.0, 1.0),
    batches: int = 3,
    batch_size: int = 8,
    seed: int = 0,
) -> float:
    """Compare ``module`` with onnxruntime running the ONNX file on random inputs.

    Args:
        module: the converted model (taking the ONNX input's layout).
        source: the ONNX file (or its :class:`~advkit.models.onnx_file.OnnxFile`).
        box: the range of the model's input values; inputs are drawn inside it.
        batches: how many batches to compare (the second one holds box corners).
        batch_size: samples per batch, unless the file fixes the batch size.
        seed: seed of the random inputs.

    Returns:
        The largest difference found, relative to max(1, largest |logit|).

    Raises:
        OnnxImportError: the outputs differ by more than :data:`TOLERANCE` (the message
            gives the largest difference), or onnxruntime cannot run the file.
        advkit.extras.MissingExtraError: onnxruntime is not installed.
    """
    f = as_onnx_file(source)
    session = ort_session(f, "checking an ONNX conversion against onnxruntime")
    gen = torch.Generator().manual_seed(seed)
    n = f.batch or batch_size  # a file that fixes the batch size runs batch by batch
    per_batch = n * -(-batch_size // n)
    worst = 0.0
    was_training = module.training
    module.eval()
    try:
        for k in range(batches):
            xs = _inputs((per_batch, *f.input_shape), box, corners=k == 1, gen=gen)
            for x in xs.split(n):
                (reference,) = session.run([f.output_name], {f.input_name: x.numpy()})
                with torch.no_grad():
                    got = module(x)
                ref = torch.from_numpy(np.asarray(reference))
                worst = max(worst, _difference(f, got, ref, box))
    finally:
        module.train(was_training)
    return worst


def _inputs(
    shape: tuple[int, ...], box: tuple[float, float], corners: bool, gen: torch.Generator
) -> Tensor:
    lo, hi = box
    u = torch.rand(shape, generator=gen)
    return lo + (hi - lo) * (u.round() if corners else u)


def _difference(f: OnnxFile, got: Tensor, reference: Tensor, box: tuple[float, float]) -> float:
    if got.shape != reference.shape:
        raise OnnxImportError(
            f"{f.source}: the converted model returns shape {tuple(got.shape)} where "
            f"onnxruntime returns {tuple(reference.shape)}; advkit refuses the conversion."
        )
    scale = max(1.0, float(reference.abs().max()))
    diff = float((got - reference).abs().max())
    if not diff <= TOLERANCE * scale:  # also refuses NaN
        raise OnnxImportError(
            f"{f.source}: the converted model differs from onnxruntime on random inputs in "
            f"[{box[0]:g}, {box[1]:g}]: max difference {diff:.3g} > tolerance "
            f"{TOLERANCE * scale:.3g}; advkit refuses to use it. Report the file as a "
            "conversion bug, or export the model to TorchScript instead."
        )
    return diff / scale
