"""Write VNN-COMP instances from a PyTorch model: the ONNX network and robustness properties.

Problem solved: a VNN-COMP benchmark is a folder of ONNX networks, VNN-LIB properties
and an ``instances.csv`` (network, property, timeout per line). To measure a verifier on
one's own model, or to hand the model to another verifier, advkit writes that folder:
the model through the TorchScript ONNX exporter (offline, opset 17, a free batch axis)
and, per sample, the property "no input of the L∞ ball of radius ε around x, clipped to
the box, makes another class score at least as high as the label" written as its
violation (a disjunction over the other classes), as VNN-COMP's ``mnistfc`` and ``eran``
benchmarks do.

Example:
    >>> import numpy as np
    >>> from advkit.certify.vnn_export import robustness_vnnlib
    >>> text = robustness_vnnlib(np.array([0.5, 1.0]), eps=0.1, label=0, classes=2)
    >>> print(text.splitlines()[-1])
    (assert (or (and (>= Y_1 Y_0))))
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["export_onnx", "robustness_vnnlib", "write_instances"]


def export_onnx(
    model: nn.Module,
    path: str | Path,
    shape: tuple[int, ...],
    *,
    output_name: str = "y",
    dynamic: bool = True,
    opset: int = 17,
) -> Path:
    """Write ``model`` (inputs of ``shape`` per sample) to the ONNX file ``path``: input
    ``x``, output ``output_name``, a free batch axis (``dynamic``) or a fixed batch of 1."""
    axes = {"x": {0: "batch"}, output_name: {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated
        torch.onnx.export(
            model.eval(),
            (torch.rand(1, *shape),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=[output_name],
            dynamic_axes=axes,
            opset_version=opset,
        )
    return Path(path)


def robustness_vnnlib(
    x: np.ndarray, eps: float, label: int, classes: int, box: tuple[float, float] = (0.0, 1.0)
) -> str:
    """The VNN-LIB text of the violation of L∞ robustness at ``x`` (flattened, in ``box``)."""
    lo, hi = box
    lines = [f"(declare-const X_{i} Real)" for i in range(x.size)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(classes)]
    for i, v in enumerate(x.reshape(-1).tolist()):
        lines.append(f"(assert (<= X_{i} {min(hi, v + eps)!r}))")
        lines.append(f"(assert (>= X_{i} {max(lo, v - eps)!r}))")
    others = " ".join(f"(and (>= Y_{j} Y_{label}))" for j in range(classes) if j != label)
    lines.append(f"(assert (or {others}))")
    return "\n".join(lines) + "\n"


def write_instances(
    model: nn.Module,
    name: str,
    x: Tensor,
    y: Tensor,
    eps_values: Sequence[float],
    folder: str | Path,
    timeout: float,
) -> list[str]:
    """Write ``name``.onnx and one property per (sample, ε) into ``folder``.

    Returns:
        The instances.csv lines (paths relative to ``folder``), one per property.
    """
    root = Path(folder)
    (root / "onnx").mkdir(parents=True, exist_ok=True)
    (root / "vnnlib").mkdir(parents=True, exist_ok=True)
    export_onnx(model, root / "onnx" / f"{name}.onnx", tuple(x.shape[1:]))
    with torch.no_grad():
        classes = int(model(x[:1]).shape[1])
    lines = []
    for eps in eps_values:
        for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
            prop = Path("vnnlib") / f"{name}_eps{eps:g}_{i}.vnnlib"
            text = robustness_vnnlib(xi.double().numpy(), eps, int(yi), classes)
            (root / prop).write_text(text, encoding="utf-8")
            lines.append(f"onnx/{name}.onnx,{prop.as_posix()},{timeout:g}")
    return lines
