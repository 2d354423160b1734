"""RobustBench model-zoo entries: the architecture from the ``robustbench`` package, the
weights from a local file through advkit's safe loader.

Problem solved: RobustBench's leaderboard models are the reference points of the field.
``robustbench.load_model`` downloads weights and unpickles them with ``torch.load`` in
full; :func:`load_robustbench` instead builds the architecture that
``robustbench.model_zoo.models.model_dicts[dataset][threat_model][name]["model"]()``
gives (robustbench 1.1.1's layout, keyed by its ``BenchmarkDataset`` and ``ThreatModel``
enums) and loads the weights with ``torch.load(..., weights_only=True)`` from
``checkpoint`` or from robustbench's own cache layout
``<model_dir>/<dataset>/<threat_model>/<name>.pt`` (``model_dir`` defaults to
robustbench's ``./models``). It never downloads; a missing file is an error that says
where to put it. Ensembles (several checkpoints) and timm-registered models are refused.
The models take images in [0, 1] (they normalize inside).

``robustbench`` depends on torchvision, timm and more, so it is not an advkit dependency
(``pip install 'advkit[robustbench]'``). advkit's tests use a stand-in package with the same
``model_dicts`` layout and small architectures, which checks this adapter's contract,
not robustbench's own architectures.

Example:
    >>> from advkit.models.robustbench_zoo import load_robustbench
    >>> model = load_robustbench("Carmon2019Unlabeled", "cifar10", "Linf")  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advkit.extras import require
from advkit.models.checkpoint import extract_state_dict, load_checkpoint, load_weights

__all__ = ["DEFAULT_MODEL_DIR", "PREFIX", "load_robustbench"]

PREFIX = "robustbench:"
"""Model names starting with this prefix name a RobustBench model-zoo entry."""

DEFAULT_MODEL_DIR = Path("models")
"""robustbench's default ``model_dir`` (relative to the current folder)."""

_WRAPPER_PREFIXES = ("module.", "model.")  # what robustbench strips from (or adds to) keys


def load_robustbench(
    name: str,
    dataset: str = "cifar10",
    threat_model: str = "Linf",
    checkpoint: str | Path | None = None,
) -> nn.Module:
    """Build a RobustBench model-zoo entry and load its weights safely.

    Args:
        name: the entry's name, e.g. ``"Carmon2019Unlabeled"``.
        dataset: RobustBench's dataset name (``"cifar10"``, ``"cifar100"``, ``"imagenet"``).
        threat_model: RobustBench's threat model (``"Linf"``, ``"L2"``, ``"corruptions"``).
        checkpoint: the weights file, or a ``model_dir`` folder in robustbench's layout;
            default ``./models/<dataset>/<threat_model>/<name>.pt``.

    Returns:
        The model on CPU in eval mode.

    Raises:
        advkit.extras.MissingExtraError: robustbench is not installed.
        ValueError: unknown dataset, threat model or name (close names suggested), an
            ensemble, or weights that do not fit the architecture.
        FileNotFoundError: no weights file (the message says where to put it).
        advkit.models.checkpoint.UnsafeCheckpointError: the file needs arbitrary
            unpickling.
    """
    zoo = require("robustbench.model_zoo.models", "robustbench", "loading RobustBench models")
    enums = require("robustbench.model_zoo.enums", "robustbench", "loading RobustBench models")
    by_dataset = zoo.model_dicts
    ds = _member(enums.BenchmarkDataset, dataset, "dataset", by_dataset)
    tm = _member(enums.ThreatModel, threat_model, "threat model", by_dataset[ds])
    entries = by_dataset[ds][tm]
    where = f"RobustBench's {ds.value}/{tm.value} zoo"
    if name not in entries:
        close = difflib.get_close_matches(name, list(entries), n=3)
        hint = f"Did you mean {', '.join(close)}? " if close else ""
        raise ValueError(
            f"{where} has no model {name!r}. {hint}Its {len(entries)} names are the keys of "
            f"robustbench.model_zoo.models.model_dicts[{ds}][{tm}]."
        )
    entry = entries[name]
    if isinstance(entry.get("gdrive_id"), list):
        raise ValueError(
            f"{name} in {where} is an ensemble of several checkpoints; advkit loads "
            "single-checkpoint entries only: load it with robustbench and save it as "
            "TorchScript, then pass that file as --model."
        )
    path = _weights_file(checkpoint, ds.value, tm.value, name)
    model = entry["model"]()
    load_weights(model, _state_dict(path, model), str(path), f"{PREFIX}{name}")
    return model.eval()


def _member(enum: type[Enum], value: str, what: str, table: Mapping[Any, Any]) -> Any:
    """The enum member of ``value`` among the keys of ``table``, or a clear error."""
    known = [k.value for k in table]
    try:
        member = enum(value)
    except ValueError:
        member = None
    if member is None or member not in table:
        raise ValueError(
            f"RobustBench has no {what} {value!r} here; choose one of {', '.join(known)}."
        )
    return member


def _weights_file(checkpoint: str | Path | None, dataset: str, threat: str, name: str) -> Path:
    given = Path(checkpoint).expanduser() if checkpoint is not None else None
    if given is not None and not given.is_dir():
        if not given.is_file():
            raise FileNotFoundError(f"checkpoint {given} for {PREFIX}{name} does not exist.")
        return given
    path = (given or DEFAULT_MODEL_DIR) / dataset / threat / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"the weights of {PREFIX}{name} are not at {path}; advkit never downloads them. "
            f"Put the file from RobustBench's model zoo there (robustbench's "
            f"load_model('{name}', dataset='{dataset}', threat_model='{threat}') saves it "
            "there), or pass it with --checkpoint FILE (checkpoint= in Python), or a "
            "model_dir folder holding <dataset>/<threat_model>/<name>.pt."
        )
    return path


def _state_dict(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """The checkpoint's state dict with the key prefixes robustbench strips removed."""
    loaded = load_checkpoint(path)
    if isinstance(loaded, Mapping) and isinstance(loaded.get("last"), Mapping):
        loaded = loaded["last"]  # checkpoints holding the last and the best model
    state = extract_state_dict(loaded, str(path))
    expected = model.state_dict()
    for prefix in _WRAPPER_PREFIXES:
        if not any(k.startswith(prefix) for k in expected):
            state = {k.removeprefix(prefix): v for k, v in state.items()}
        elif all(k.startswith(prefix) for k in expected) and not any(
            k.startswith(prefix) for k in state
        ):  # an architecture wrapped as .model (with its normalization), bare weights
            state = {prefix + k: v for k, v in state.items()}
    return state
