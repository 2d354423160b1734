"""Options and helpers shared by the ``advkit`` subcommands: model, data and threat."""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from advkit.attacks.catalog import ATTACKS
from advkit.cli.device import add_device, device_of, to_device
from advkit.cli.errors import UsageError
from advkit.cli.model_input import add_model_input, default_dataset, input_spec
from advkit.data import CUSTOM_DATASETS, DATASETS, load_dataset
from advkit.data.samples import Samples, open_samples
from advkit.demo import DEMO_EPS, demo_model
from advkit.models.declared import adapt_declared, load_declared
from advkit.models.input_spec import InputSpec
from advkit.threat import THREATS, ThreatModel

__all__ = [
    "THREATS",
    "add_common",
    "add_data_dir",
    "dataset_of",
    "floats",
    "inputs_of",
    "load_data",
    "model_and_data",
    "refuse_unbounded",
    "threat_of",
]

logger = logging.getLogger(__name__)


def number(text: str) -> float:
    """Parse a radius: a decimal (``"0.3"``), a fraction (``"8/255"``) or ``"inf"``.

    Example:
        >>> number("8/255") == 8 / 255
        True
    """
    try:
        return float(Fraction(text.strip())) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError) as err:
        raise argparse.ArgumentTypeError(
            f"expected a number such as 0.3 or 8/255, got {text!r}"
        ) from err


def floats(text: str) -> list[float]:
    """Parse ``"0.1,8/255"`` into ``[0.1, 8 / 255]`` (an argparse type)."""
    return [number(t) for t in text.split(",") if t.strip()]


def add_data_dir(p: Any) -> None:
    """``--data-dir`` and ``--no-verify-data`` on the parser or argument group ``p``."""
    p.add_argument(
        "--data-dir",
        help="local folder with the dataset files (no download); for --dataset folder the "
        "folder of class folders, for --dataset tensors the .npz/.pt file",
    )
    p.add_argument(
        "--no-verify-data",
        action="store_true",
        help="accept --data-dir files that are not the official ones (a custom copy); "
        "by default they must match the dataset's published SHA-256",
    )


def add_common(p: argparse.ArgumentParser) -> None:
    """Model, data, threat and run options every model-facing command takes."""
    g = p.add_argument_group("model and data")
    g.add_argument(
        "--model",
        help="registry name (see `advkit list`), 'package.module:factory' (with "
        "--checkpoint), an ONNX or TorchScript file, or robustbench:NAME (the entry of "
        "--dataset and --norm); default: the built-in digits CNN",
    )
    g.add_argument(
        "--checkpoint",
        help="weights file: a state dict (.pt/.pth loaded weights_only, or .safetensors); "
        "for robustbench:NAME also robustbench's model_dir folder",
    )
    g.add_argument(
        "--dataset",
        choices=sorted([*DATASETS, *CUSTOM_DATASETS]),
        help="default: the model's dataset; folder: any DIR/<class>/<image> tree, tensors: "
        "an .npz/.pt file with x and y (both named by --data-dir)",
    )
    add_model_input(g, floats)
    add_data_dir(g)
    g.add_argument("--split", default="test", choices=["train", "test", "all"])
    g.add_argument("--n", type=int, help="use only the first N samples")
    t = p.add_argument_group("threat")
    t.add_argument("--norm", default="linf", choices=sorted(THREATS))
    t.add_argument(
        "--eps", type=number, help=f"radius, e.g. 0.3 or 8/255 (default {DEMO_EPS} for the demo)"
    )
    r = p.add_argument_group("run")
    r.add_argument("--batch-size", type=int, default=256)
    r.add_argument("--seed", type=int, default=0)
    add_device(r)
    r.add_argument("--quiet", action="store_true", help="no progress bars or log messages")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")


def inputs_of(args: argparse.Namespace) -> dict[str, Path | None]:
    """The files ``--checkpoint`` and ``--model`` (when a file) name: outputs must differ."""
    model = args.model if args.model is not None and Path(args.model).is_file() else None
    return {"--checkpoint": args.checkpoint, "--model": model}


def load_data(
    args: argparse.Namespace, dataset: str, split: str, n: int | None, option: str = "--n"
) -> tuple[Tensor, Tensor]:
    """The first ``n`` samples of a split; says so when the split has fewer.

    Args:
        dataset: a name of :data:`~advkit.data.DATASETS`.
        split: ``"train"``, ``"test"`` or ``"all"``.
        args: the command's options (``--data-dir``, ``--no-verify-data``).
        n: how many samples; None for all.
        option: the option that asked for ``n``, for messages.

    Raises:
        UsageError: ``n`` is below 1.
    """
    _check_n(n, option)
    x, y = load_dataset(
        dataset,
        split=split,
        data_dir=args.data_dir,
        limit=n,
        verify=not args.no_verify_data,
    )
    _warn_short(n, x.shape[0], f"{dataset}/{split}", option)
    return x, y


def _check_n(n: int | None, option: str) -> None:
    """Refuse a sample count below 1."""
    if n is not None and n < 1:
        raise UsageError(f"{option} must be >= 1, got {n}")


def _warn_short(n: int | None, got: int, split: str, option: str) -> None:
    """Say so when the split holds fewer than the ``n`` samples asked for."""
    if n is not None and got < n:
        logger.warning("%s %d: %s has only %d samples; using all %d", option, n, split, got, got)


def refuse_unbounded(
    eps: Iterable[float], attacks: Iterable[str], option: str, instead: str
) -> None:
    """Refuse ε = inf for attacks that need a finite radius, before any work.

    Args:
        eps: every radius the command will attack at.
        attacks: the catalog names of the attacks it runs.
        option: the option that gave the radii, for the message.
        instead: the options that choose a minimal-distortion attack, e.g.
            ``"--attack deepfool"``, for the message.

    Raises:
        UsageError: some ε is infinite and some attack is not minimal-distortion.
    """
    fixed = [name for name in attacks if not ATTACKS[name].info.minimal]
    if fixed and any(math.isinf(e) for e in eps):
        raise UsageError(
            f"{option} inf: fixed-ε attacks ({', '.join(fixed)}) need a finite radius; give "
            f"one (e.g. --eps 0.1), or use a minimal-distortion attack, e.g. {instead} "
            "(see advkit list)"
        )


def dataset_of(args: argparse.Namespace) -> str:
    """The dataset the options name: ``--dataset``, else the model's (registry,
    RobustBench), else the digits of the built-in demo."""
    if args.model is None:
        return str(args.dataset or "digits")
    dataset = default_dataset(args)
    if dataset is None:
        raise ValueError("--dataset is required for a model outside the registry")
    return dataset


def model_and_data(
    args: argparse.Namespace, option: str = "--n"
) -> tuple[nn.Module, Tensor, Tensor, dict[str, Any]]:
    """The model and the (x, y) data the options name, plus a description for reports.

    ``option`` names the option ``args.n`` comes from in the message when the split is
    shorter than ``args.n``.
    """
    model, spec, name = _declared_model(args)
    dataset = dataset_of(args)
    x, y = load_data(args, dataset, args.split, args.n, option)
    if args.model is not None:
        model = adapt_declared(args.model, model, spec, tuple(x.shape[1:]))
    x, y = to_device(args, model, x, y)
    return model, x, y, _info(args, name, dataset, spec)


def model_and_samples(args: argparse.Namespace) -> tuple[nn.Module, Samples, dict[str, Any]]:
    """:func:`model_and_data` with the data left in the dataset, read a batch at a time
    (:class:`~advkit.data.samples.Samples`): memory follows the batch, not ``--n``."""
    model, spec, name = _declared_model(args)
    dataset = dataset_of(args)
    _check_n(args.n, "--n")
    data = open_samples(dataset, args.split, args.data_dir, args.n, verify=not args.no_verify_data)
    _warn_short(args.n, len(data), f"{dataset}/{args.split}", "--n")
    if args.model is not None:
        model = adapt_declared(args.model, model, spec, tuple(data.take([0])[0].shape[1:]))
    device = device_of(args)
    model.to(device)
    return model, data.to(device), _info(args, name, dataset, spec)


def _declared_model(args: argparse.Namespace) -> tuple[nn.Module, InputSpec, str]:
    """The model the options name (the built-in demo's without ``--model``), its input
    declaration and its name for reports."""
    spec = input_spec(args)
    if args.model is None:
        if args.checkpoint is not None:
            raise ValueError("--checkpoint needs --model")
        return demo_model(), spec, "digits-cnn (built-in)"
    dataset = default_dataset(args)
    model = load_declared(args.model, args.checkpoint, spec, dataset=dataset, norm=args.norm)
    return model, spec, args.model


def _info(args: argparse.Namespace, name: str, dataset: str, spec: InputSpec) -> dict[str, Any]:
    """The description of a run's model and data for reports."""
    info = {"model": name, "dataset": f"{dataset}/{args.split}", "seed": args.seed}
    if spec != InputSpec():
        info["inputs"] = {"layout": spec.layout, "mean": spec.mean, "std": spec.std}
    return info


def threat_of(args: argparse.Namespace) -> ThreatModel:
    """The threat model of ``--norm``/``--eps`` (the demo's ε when no model is given)."""
    if args.eps is None:
        if args.model is not None:
            raise ValueError("--eps is required with --model (e.g. --eps 0.3 for MNIST L∞)")
        args.eps = DEMO_EPS
    return THREATS[args.norm](args.eps)
