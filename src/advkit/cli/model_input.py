"""The ``--model`` of a command: loading it, and the input it declares (``--mean``,
``--std``, ``--layout``).

Problem solved: a model named on the command line may be a registry name, an ONNX file,
a RobustBench entry (``robustbench:NAME``, picked with ``--dataset`` and ``--norm``) or
user code with weights; it may expect standardized or channels-last inputs. This module
turns the options into a model that takes advkit's (N, C, H, W) images in [0, 1], and
refuses declarations that do not fit the model or the data before any work.
"""

from __future__ import annotations

import argparse
from typing import Any

from advkit.cli.errors import UsageError
from advkit.models import MODELS
from advkit.models.input_spec import LAYOUTS, InputSpec
from advkit.models.robustbench_zoo import PREFIX

__all__ = ["add_model_input", "default_dataset", "input_spec"]


def add_model_input(g: Any, floats: Any) -> None:
    """``--mean``, ``--std`` and ``--layout`` on the argument group ``g``."""
    g.add_argument(
        "--mean",
        type=floats,
        help="per-channel mean the model was trained with, e.g. 0.4914,0.4822,0.4465 "
        "(with --std): advkit prepends (x - mean) / std so attacks work on [0, 1] pixels",
    )
    g.add_argument("--std", type=floats, help="per-channel standard deviation (with --mean)")
    g.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="nchw",
        help="input layout the model expects: nchw (channels first, default) or nhwc "
        "(channels last: images are permuted before the model)",
    )


def input_spec(args: argparse.Namespace) -> InputSpec:
    """The :class:`InputSpec` of ``--layout``, ``--mean`` and ``--std``.

    Raises:
        UsageError: they are given without ``--model``, or with a registry model (which
            declares its own normalization).
    """
    spec = InputSpec(
        layout=args.layout,
        mean=None if args.mean is None else tuple(args.mean),
        std=None if args.std is None else tuple(args.std),
    )
    if spec != InputSpec() and (args.model is None or args.model in MODELS):
        which = "the built-in demo" if args.model is None else f"registry model {args.model}"
        raise UsageError(
            f"--mean, --std and --layout describe a model from a file; {which} declares its "
            "own input: drop them"
        )
    return spec


def default_dataset(args: argparse.Namespace) -> str | None:
    """``--dataset``, else the registry model's dataset, else CIFAR-10 for RobustBench."""
    if args.dataset is not None:
        return str(args.dataset)
    if args.model in MODELS:
        return MODELS[args.model].dataset
    return "cifar10" if str(args.model).startswith(PREFIX) else None
