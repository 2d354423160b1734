"""A model loaded as a run declares it: name or file, weights, input and threat model.

Problem solved: the command line and ``advkit verify`` (which loads a run's model again
from its results) must build the very same model from the same declaration: a RobustBench
entry picked by dataset and threat model, an ONNX file whose conversion is checked in the
range its declared normalization gives, any model behind its declared normalization and
layout, checked on one of the data's samples.

Example:
    >>> from advkit.models.declared import adapt_declared, load_declared
    >>> from advkit.models.input_spec import InputSpec
    >>> name = "advkit.models.architectures:lenet5"
    >>> net = load_declared(name, None, InputSpec(), dataset="mnist", norm="linf")
    >>> adapt_declared(name, net, InputSpec(), (1, 28, 28)).training
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from advkit.models.input_spec import InputSpec, adapt_inputs
from advkit.models.load import ONNX_SUFFIX, load_model
from advkit.models.onnx_import import onnx_input_shape
from advkit.models.robustbench_zoo import PREFIX

__all__ = ["ROBUSTBENCH_THREATS", "adapt_declared", "load_declared"]

ROBUSTBENCH_THREATS = {"linf": "Linf", "l2": "L2"}
"""RobustBench's threat model of each advkit norm it has a leaderboard for."""


def load_declared(
    name: str,
    checkpoint: str | Path | None,
    spec: InputSpec,
    *,
    dataset: str | None,
    norm: str,
) -> nn.Module:
    """The model ``name`` (see :func:`~advkit.models.load_model`) as declared.

    Args:
        name: a registry name, import path, file or ``robustbench:NAME``.
        checkpoint: its weights file, if any.
        spec: the normalization and layout the model expects (an ONNX conversion is
            checked in the value range it gives).
        dataset: the data's name (picks a RobustBench entry; None: its default).
        norm: the threat model's name (picks a RobustBench entry: ``linf`` or ``l2``).

    Raises:
        ValueError: a RobustBench entry asked for another norm.
    """
    return load_model(name, checkpoint, **_options(name, spec, dataset, norm))


def adapt_declared(
    name: str, model: nn.Module, spec: InputSpec, sample_shape: Sequence[int]
) -> nn.Module:
    """``model`` (loaded from ``name``) behind ``spec``, checked on one sample's shape,
    e.g. ``(3, 32, 32)``, and against an ONNX file's declared input shape.

    Raises:
        ValueError: the declaration does not fit the model or the data.
    """
    path = Path(name)
    declared = onnx_input_shape(path) if path.suffix == ONNX_SUFFIX and path.is_file() else None
    return adapt_inputs(model, spec, sample_shape, declared)


def _options(name: str, spec: InputSpec, dataset: str | None, norm: str) -> dict[str, Any]:
    if not name.startswith(PREFIX):
        return {"input_box": spec.box()}
    threat = ROBUSTBENCH_THREATS.get(norm)
    if threat is None:
        raise ValueError(
            f"--norm {norm}: RobustBench ranks models for {', '.join(ROBUSTBENCH_THREATS)}"
            " only; pass one of them to pick the entry"
        )
    return (
        {"threat_model": threat}
        if dataset is None
        else {"dataset": dataset, "threat_model": threat}
    )
