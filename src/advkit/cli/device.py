"""``--device``: where a command runs its model (``cpu``, ``cuda``, ``cuda:N``, ``mps``).

The default is ``cuda`` when a GPU is available, else ``cpu``. A device that is not there
is refused when the options are read, before any data is loaded.

Example:
    >>> import argparse
    >>> from advkit.cli.device import add_device, device_of
    >>> p = argparse.ArgumentParser()
    >>> add_device(p)
    >>> str(device_of(p.parse_args(["--device", "cpu"])))
    'cpu'
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["add_device", "device_of", "parse_device", "to_device"]

_KINDS = ("cpu", "cuda", "mps")


def _absent(text: str, kind: str) -> str | None:
    """Why the device ``text`` of type ``kind`` cannot be used here (None when it can)."""
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return (
                f"{text}: no CUDA GPU is available (torch.cuda.is_available() is "
                "False); use --device cpu, or install a CUDA build of PyTorch on a GPU machine"
            )
        index = torch.device(text).index
        if index is not None and index >= count:
            return f"{text}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}"
    if kind == "mps" and not torch.backends.mps.is_available():
        return f"{text}: Apple's MPS backend is not available here; use --device cpu"
    return None


def parse_device(text: str) -> torch.device:
    """An argparse type: the device named ``text``, refused when it is not available.

    Raises:
        argparse.ArgumentTypeError: an unknown device, or one this machine lacks.
    """
    try:
        device = torch.device(text.strip())
    except RuntimeError as err:
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; use cpu, cuda, cuda:N or mps"
        ) from err
    if device.type not in _KINDS:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use cpu, cuda, cuda:N or mps")
    why = _absent(text.strip(), device.type)
    if why is not None:
        raise argparse.ArgumentTypeError(why)
    return device


def add_device(p: Any) -> None:
    """``--device`` on the parser or argument group ``p``."""
    p.add_argument(
        "--device",
        type=parse_device,
        help="where the model runs: cpu, cuda, cuda:N or mps (default: cuda when a GPU is "
        "available, else cpu); the model and the data are moved there",
    )


def device_of(args: argparse.Namespace) -> torch.device:
    """The device of ``--device``, else cuda when available, else the CPU."""
    given: torch.device | None = getattr(args, "device", None)
    if given is not None:
        return given
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_device(args: argparse.Namespace, model: nn.Module, *tensors: Tensor) -> list[Tensor]:
    """Move ``model`` (in place) and ``tensors`` to the command's device; the tensors moved."""
    device = device_of(args)
    model.to(device)
    return [t.to(device) for t in tensors]
