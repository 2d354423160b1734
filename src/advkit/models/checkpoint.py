"""Safe reading of PyTorch checkpoint files and of the state dicts inside them.

Problem solved: a ``.pt``/``.pth`` file is a pickle, and unpickling an untrusted file can
run arbitrary code. advkit only ever calls ``torch.load(..., weights_only=True)``, which
restricts unpickling to tensors and plain containers; a file that needs more fails with
:class:`UnsafeCheckpointError` — advkit never retries with ``weights_only=False``.
A ``.safetensors`` file holds tensors only and is read with ``safetensors.torch.load_file``.

Published checkpoints wrap their weights in different layouts; :func:`extract_state_dict`
unwraps the common ones: a bare state dict, a dict holding it under ``"state_dict"``,
``"model_state_dict"``, ``"model"``, ``"net"`` or ``"network"`` (next to metadata such as
``"epoch"`` or ``"acc"``), a list of state dicts (convex_adversarial cascades and
alpha-beta-CROWN files: the first is used), and ``"module."`` prefixes left by
``nn.DataParallel``.

Example:
    >>> import torch, tempfile, pathlib
    >>> from advkit.models.checkpoint import extract_state_dict, load_checkpoint
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.pth"
    >>> torch.save({"state_dict": [{"module.0.weight": torch.ones(2)}], "epoch": 3}, path)
    >>> list(extract_state_dict(load_checkpoint(path)))
    ['0.weight']
"""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "SAFETENSORS_SUFFIX",
    "UnsafeCheckpointError",
    "extract_state_dict",
    "is_torchscript",
    "load_checkpoint",
    "load_state_dict_file",
    "load_weights",
]

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIX = ".safetensors"
"""State-dict files with this suffix are read as safetensors, every other one as torch.save."""

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network")
_DATA_PARALLEL_PREFIX = "module."
# torch.save's legacy (pre-1.6) format opens with a pickled magic number, protocol 2
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colors in torch's messages
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds more than tensors and plain containers (e.g. pickled code)."""


def is_torchscript(path: str | Path) -> bool:
    """Tell whether ``path`` is a TorchScript archive (``torch.jit.save`` output).

    TorchScript archives are zip files holding ``constants.pkl`` and a ``code/`` folder;
    plain ``torch.save`` files hold neither.
    """
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def load_checkpoint(path: str | Path) -> Any:
    """Load a checkpoint with ``torch.load(path, map_location="cpu", weights_only=True)``.

    Args:
        path: ``.pt``/``.pth`` file written by ``torch.save``.

    Returns:
        The unpickled object (tensors on CPU).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file needs arbitrary unpickling (a whole pickled
            model, custom classes, or malicious code); advkit refuses to load it.
        ValueError: the file is not a PyTorch checkpoint, or a truncated or corrupted one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist.")
    if not _is_torch_file(path):
        raise ValueError(
            f"{path} is not a PyTorch checkpoint: torch.save writes a zip archive (or, "
            "before PyTorch 1.6, a pickle with its magic number) and this file is neither "
            "(empty, truncated or another format). Check the path, or download or save the "
            "weights again with torch.save(model.state_dict(), path)."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"{path} cannot be loaded with torch.load(weights_only=True): it contains more "
            "than tensors and plain containers (for example a whole pickled model or "
            "custom classes). advkit refuses to unpickle untrusted code and will not retry "
            "with weights_only=False. If you trust the file, re-save its weights with "
            "torch.save(model.state_dict(), path) and load them with a factory "
            "('package.module:factory' or factory=...), or export the model as "
            f"TorchScript. Details: {_ANSI.sub('', str(err).splitlines()[0])}"
        ) from err
    except (RuntimeError, KeyError, EOFError, OSError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else "no details"
        raise ValueError(
            f"{path} is a truncated or corrupted PyTorch checkpoint ({type(err).__name__}: "
            f"{reason}). Download or save the weights again."
        ) from err


def extract_state_dict(checkpoint: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the state dict inside a loaded checkpoint and normalize its keys.

    Args:
        checkpoint: object returned by :func:`load_checkpoint`.
        source: name used in error messages.

    Returns:
        A ``{parameter name: tensor}`` dict, ``"module."`` prefixes removed.

    Raises:
        ValueError: no state dict could be found; the message lists the top-level keys.
    """
    obj = checkpoint
    while True:
        if isinstance(obj, list | tuple) and obj and all(isinstance(o, Mapping) for o in obj):
            if len(obj) > 1:
                logger.info("%s holds %d state dicts; using the first", source, len(obj))
            obj = obj[0]
            continue
        if (
            isinstance(obj, Mapping)
            and obj
            and all(isinstance(v, torch.Tensor) for v in obj.values())
        ):
            break
        if isinstance(obj, Mapping):
            key = next((k for k in _WRAPPER_KEYS if k in obj), None)
            if key is not None:
                obj = obj[key]
                continue
        raise ValueError(
            f"{source}: no state dict found (top level: {_summary(checkpoint)}). Expected "
            f"a dict of tensors, possibly under one of {_WRAPPER_KEYS} or in a list."
        )
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith(_DATA_PARALLEL_PREFIX) for k in state):
        state = {k.removeprefix(_DATA_PARALLEL_PREFIX): v for k, v in state.items()}
    return state


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state-dict file safely and return the state dict inside it.

    A ``.safetensors`` file is read with ``safetensors.torch.load_file``; any other file
    with :func:`load_checkpoint`. Either way :func:`extract_state_dict` unwraps it.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a corrupted file, or no state dict inside.
        UnsafeCheckpointError: see :func:`load_checkpoint`.
    """
    path = Path(path)
    if path.suffix != SAFETENSORS_SUFFIX:
        return extract_state_dict(load_checkpoint(path), str(path))
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist.")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path, device="cpu")
    except SafetensorError as err:
        raise ValueError(
            f"{path} is not a valid safetensors file ({err}); save the weights again, e.g. "
            "safetensors.torch.save_file(model.state_dict(), path)."
        ) from err
    return extract_state_dict(tensors, str(path))


def load_weights(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str, what: str
) -> None:
    """Load ``state`` into ``model``, every key matching.

    Args:
        model: the architecture.
        state: its weights, e.g. from :func:`load_state_dict_file`.
        source: where the weights come from (a file), for messages.
        what: the model's name, for messages.

    Raises:
        ValueError: the weights do not fit the architecture (missing, unexpected or
            differently shaped tensors, named).
    """
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"the weights in {source} do not fit the architecture of {what!r}; check that the "
            f"factory builds the network the checkpoint was trained with. {err}"
        ) from err


def _is_torch_file(path: Path) -> bool:
    """Whether ``path`` has the form of a ``torch.save`` file (zip archive or legacy)."""
    with path.open("rb") as f:
        head = f.read(len(_LEGACY_MAGIC))
    return head == _LEGACY_MAGIC or zipfile.is_zipfile(path)


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and bool(obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _summary(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return f"dict with keys {list(obj)[:10]}"
    if isinstance(obj, list | tuple):
        return f"{type(obj).__name__} of {len(obj)} items"
    return type(obj).__name__
