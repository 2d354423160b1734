"""The network of a verification instance: its float32 model for decisions and a float64
copy traced for bounds.

Problem solved: a verifier must judge counterexamples by the network itself (a float32
forward pass, as the competition's checker does) but bound it in enough precision that
rounding does not eat the margins. :class:`VnnNetwork` holds both and re-checks candidate
counterexamples (:meth:`VnnNetwork.check`): the point is rounded to float32 inside the
property's box, run through the float32 model, and kept only if its output satisfies every
row of the disjunct; a network loaded from ONNX also runs it through onnxruntime, which
must agree, and the output reported is onnxruntime's (what the competition's checker
sees).

Example:
    >>> import numpy as np, torch
    >>> from advkit.certify.vnn_network import VnnNetwork
    >>> from advkit.certify.vnn_property import Disjunct
from advkit.certify.vnn_reference import Reference, onnx_reference
    >>> net = VnnNetwork.of(torch.nn.Sequential(torch.nn.Linear(2, 2)).eval(), (2,))
    >>> part = Disjunct(np.zeros(2), np.ones(2), np.zeros((0, 2)), np.zeros(0))
    >>> net.check(part, np.array([0.5, 0.5]))[0].tolist()
    [0.5, 0.5]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from advkit.certify.graph import Graph, trace
from advkit.certify.vnn_property import Disjunct
from advkit.certify.vnn_reference import Reference, onnx_reference

__all__ = ["VnnNetwork", "load_network"]


@dataclass(frozen=True, eq=False)
class VnnNetwork:
    """A network to verify.

    Attributes:
        model: the float32 model in eval mode (decides counterexamples).
        graph: a float64 copy of it, traced for the certifiers.
        input_shape: the per-sample input shape (the property's X_i are its flat values).
        num_outputs: the number of outputs (the property's Y_i).
        reference: a second judge of counterexamples (onnxruntime on the ONNX file), or
            None.
    """

    model: nn.Module
    graph: Graph
    input_shape: tuple[int, ...]
    num_outputs: int
    reference: Reference | None = None

    @classmethod
    def of(cls, model: nn.Module, input_shape: tuple[int, ...]) -> VnnNetwork:
        """Wrap a torch model taking (N, *input_shape) inputs.

        Raises:
            TypeError: the model uses an operation the certifiers do not support (named).
        """
        model = copy.deepcopy(model).float().eval()
        bounded = copy.deepcopy(model).double()
        graph = trace(bounded, torch.zeros(1, *input_shape, dtype=torch.float64))
        with torch.no_grad():
            out = model(torch.zeros(1, *input_shape))
        return cls(model, graph, tuple(input_shape), int(out[0].numel()))

    def outputs(self, x: Tensor) -> Tensor:
        """The float32 outputs (B, M) of flat inputs x (B, D)."""
        y = self.model(x.float().reshape(x.shape[0], *self.input_shape))
        return y.reshape(x.shape[0], -1)

    def check(self, part: Disjunct, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The float32 point and output when ``x`` (D,) is a counterexample of ``part``.

        The point is rounded to float32 toward the inside of the box; it counts only if
        it lies in the box and its float32 output satisfies every row.
        """
        x32 = np.clip(np.asarray(x, dtype=np.float64), part.lower, part.upper).astype(np.float32)
        x32 = np.where(x32 < part.lower, np.nextafter(x32, np.float32(np.inf)), x32)
        x32 = np.where(x32 > part.upper, np.nextafter(x32, np.float32(-np.inf)), x32)
        if not part.contains(x32.astype(np.float64)):
            return None
        with torch.no_grad():
            y32 = self.outputs(torch.from_numpy(x32.astype(np.float32))[None])[0].numpy()
        if not part.violated(y32):
            return None
        if self.reference is None:
            return x32, y32
        y_ref = self.reference(x32)
        return (x32, y_ref) if part.violated(y_ref) else None


def load_network(path: str | Path, box: tuple[float, float] = (0.0, 1.0)) -> VnnNetwork:
    """Convert the ONNX file ``path`` (checked against onnxruntime on inputs in ``box``).

    Raises:
        advkit.models.onnx_builder.OnnxImportError: an ONNX operator advkit does not
            convert (named).
        TypeError: an operation the certifiers do not support (named).
    """
    from advkit.models.onnx_import import load_onnx, onnx_input_shape

    lo, hi = box
    model = load_onnx(path, box=(lo, hi if hi > lo else lo + 1.0))
    return replace(VnnNetwork.of(model, onnx_input_shape(path)), reference=onnx_reference(path))
