"""Loading any classifier advkit can evaluate, from a name or a file.

Problem solved: models come as registry names, user code plus weights, TorchScript, ONNX
files or RobustBench entries; :func:`load_model` turns each into an ``nn.Module`` on CPU
in eval mode, reading weights only through safe loaders (``torch.load`` with
``weights_only=True``, safetensors, or onnx's protobuf).

Example:
    >>> from advkit.models import load_model
    >>> net = load_model("advkit.models.architectures:lenet5")
    >>> net.training
    False
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
from torch import nn

from advkit.models.checkpoint import is_torchscript, load_state_dict_file, load_weights
from advkit.models.onnx_import import load_onnx
from advkit.models.registry import MODELS, load_registry_model
from advkit.models.robustbench_zoo import PREFIX, load_robustbench

__all__ = ["ONNX_SUFFIX", "load_model"]

logger = logging.getLogger(__name__)

ONNX_SUFFIX = ".onnx"
"""Files with this suffix are read as ONNX models."""

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def load_model(
    name_or_path: str | Path,
    checkpoint: str | Path | None = None,
    *,
    factory: Callable[[], nn.Module] | None = None,
    dataset: str | None = None,
    threat_model: str | None = None,
    input_box: tuple[float, float] = (0.0, 1.0),
    device: str | torch.device | None = None,
) -> nn.Module:
    """Build a classifier, load its weights safely and put it in eval mode.

    Accepted forms of ``name_or_path``:

    - a registry name (:data:`~advkit.models.MODELS`): weights from ``checkpoint`` or
      from the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``); the
      normalization is prepended, giving ``nn.Sequential(Normalize(mean, std), net)``;
    - ``"robustbench:NAME"``: a RobustBench model-zoo entry of ``dataset`` (default
      ``"cifar10"``) and ``threat_model`` (default ``"Linf"``), weights from
      ``checkpoint`` or robustbench's cache layout (see
      :func:`~advkit.models.robustbench_zoo.load_robustbench`; never downloaded);
    - ``"package.module:factory"``: the factory is imported and called without
      arguments; weights, if any, come from the state-dict file ``checkpoint``;
    - a state-dict file together with ``factory=``, a zero-argument callable;
    - an ``.onnx`` file: converted by advkit and checked against onnxruntime on random
      inputs in ``input_box`` (see :func:`~advkit.models.onnx_import.load_onnx`);
    - a TorchScript file (``torch.jit.save`` output), loaded with ``torch.jit.load``.

    State-dict files are ``.safetensors`` files or ``torch.save`` files, read with
    ``torch.load(..., map_location="cpu", weights_only=True)``; wrapped layouts
    (``{"state_dict": ...}``, lists of state dicts, ``"module."`` prefixes) are unwrapped.

    Args:
        name_or_path: registry name, ``robustbench:NAME``, import path or file path.
        checkpoint: weights file for a registry name, an import path or a RobustBench
            entry (for which it may also be robustbench's ``model_dir`` folder).
        factory: architecture for a state-dict file given as ``name_or_path``.
        dataset: RobustBench dataset of a ``robustbench:NAME`` entry.
        threat_model: RobustBench threat model of a ``robustbench:NAME`` entry.
        input_box: range of the values an ONNX model's input takes, where its conversion
            is checked (``(0, 1)`` for images; wider when normalized outside the model).
        device: where to put the model, e.g. ``"cuda"`` (default: the CPU, where the
            weights are read).

    Returns:
        The model on ``device`` in eval mode, mapping (N, C, H, W) inputs in [0, 1] to logits
        (an ONNX model takes the layout its file declares).

    Raises:
        FileNotFoundError: a checkpoint cannot be found (the message says where to put
            it), or a file does not exist.
        advkit.models.checkpoint.UnsafeCheckpointError: the file needs arbitrary
            unpickling; advkit refuses to load it.
        advkit.models.onnx_builder.OnnxImportError: an ONNX file advkit cannot convert,
            or whose conversion differs from onnxruntime.
        advkit.extras.MissingExtraError: onnx/onnxruntime or robustbench missing.
        ValueError: unrecognized ``name_or_path``, ambiguous arguments, or weights that
            do not fit the architecture.
        TypeError: a factory does not return an ``nn.Module``.
    """
    text = str(name_or_path)
    robustbench = text.startswith(PREFIX)
    if (dataset is not None or threat_model is not None) and not robustbench:
        raise ValueError(
            f"dataset= and threat_model= choose a RobustBench entry; {text!r} is not a "
            f"'{PREFIX}NAME' model."
        )
    if factory is not None:
        if checkpoint is not None:
            raise ValueError(
                "with factory=, pass the weights file as name_or_path, not checkpoint=."
            )
        model = _build(factory, text)
        load_weights(model, load_state_dict_file(name_or_path), text, text)
    elif text in MODELS:
        model = load_registry_model(MODELS[text], checkpoint)
    elif robustbench:
        entry = text.removeprefix(PREFIX)
        model = load_robustbench(entry, dataset or "cifar10", threat_model or "Linf", checkpoint)
    elif _IMPORT_PATH.match(text) and not Path(text).exists():
        model = _from_import_path(text, checkpoint)
    elif Path(text).is_file():
        model = _from_file(Path(text), checkpoint, input_box)
    else:
        raise ValueError(
            f"unknown model {text!r}: not a registry name ({', '.join(MODELS)}), not "
            f"'{PREFIX}NAME', not a 'package.module:factory' import path, and not an "
            "existing file."
        )
    return model.to(device).eval() if device is not None else model.eval()


def _from_import_path(text: str, checkpoint: str | Path | None) -> nn.Module:
    model = _build(_import_factory(text), text)
    if checkpoint is None:
        logger.info("%s: no checkpoint given; using the factory's own weights", text)
    else:
        load_weights(model, load_state_dict_file(checkpoint), str(checkpoint), text)
    return model


def _from_file(path: Path, checkpoint: str | Path | None, box: tuple[float, float]) -> nn.Module:
    """An ONNX or TorchScript file; a state dict is explained."""
    if path.suffix == ONNX_SUFFIX and checkpoint is None:
        return load_onnx(path, box=box)
    if checkpoint is not None or not is_torchscript(path):
        raise ValueError(
            f"{path} is not a TorchScript file (nor an ONNX file, named *.onnx); to load a "
            "state dict, give its "
            "architecture: --model package.module:factory --checkpoint FILE on the command "
            "line, or load_model(path, factory=MyNet) / "
            "load_model('package.module:factory', checkpoint=path) in Python."
        )
    return cast("nn.Module", torch.jit.load(str(path), map_location="cpu"))


def _import_factory(path: str) -> Callable[[], nn.Module]:
    module_name, _, attr = path.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module {module_name!r} of {path!r}: {err}") from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module_name!r} has no attribute {attr!r} (from {path!r}).")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path!r} is not callable; it must name a model factory or class.")
    return cast("Callable[[], nn.Module]", obj)


def _build(factory: Callable[[], nn.Module], what: str) -> nn.Module:
    model = factory()
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"the factory of {what!r} returned {type(model).__name__}, not a torch.nn.Module."
        )
    return model
