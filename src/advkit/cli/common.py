"""Options and helpers shared by the ``advkit`` subcommands: model, data and threat."""

from __future__ import annotations

import argparse
from typing import Any

from torch import Tensor, nn

from advkit.data import DATASETS, load_dataset
from advkit.demo import DEMO_EPS, demo_model
from advkit.models import MODELS, load_model
from advkit.threat import L0, L1, L2, Linf, ThreatModel

__all__ = ["THREATS", "add_common", "add_data_dir", "floats", "model_and_data", "threat_of"]

THREATS: dict[str, type[ThreatModel]] = {"linf": Linf, "l2": L2, "l1": L1, "l0": L0}


def floats(text: str) -> list[float]:
    """Parse ``"0.1,0.2"`` into ``[0.1, 0.2]`` (an argparse type)."""
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def add_data_dir(p: Any) -> None:
    """``--data-dir`` and ``--no-verify-data`` on the parser or argument group ``p``."""
    p.add_argument("--data-dir", help="local folder with the dataset files (no download)")
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
        help="registry name (see `advkit list`), 'package.module:factory', or a TorchScript "
        "file; default: the built-in digits CNN",
    )
    g.add_argument("--checkpoint", help="weights file (state dict, loaded weights_only)")
    g.add_argument("--dataset", choices=sorted(DATASETS), help="default: the model's dataset")
    add_data_dir(g)
    g.add_argument("--split", default="test", choices=["train", "test", "all"])
    g.add_argument("--n", type=int, help="use only the first N samples")
    t = p.add_argument_group("threat")
    t.add_argument("--norm", default="linf", choices=sorted(THREATS))
    t.add_argument("--eps", type=float, help=f"radius (default {DEMO_EPS} for the demo)")
    r = p.add_argument_group("run")
    r.add_argument("--batch-size", type=int, default=256)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--quiet", action="store_true", help="no progress bars or log messages")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")


def model_and_data(args: argparse.Namespace) -> tuple[nn.Module, Tensor, Tensor, dict[str, Any]]:
    """The model and the (x, y) data the options name, plus a description for reports."""
    if args.model is None:
        if args.checkpoint is not None:
            raise ValueError("--checkpoint needs --model")
        model, dataset, name = demo_model(), args.dataset or "digits", "digits-cnn (built-in)"
    else:
        model, name = load_model(args.model, args.checkpoint), args.model
        dataset = args.dataset or (MODELS[args.model].dataset if args.model in MODELS else None)
        if dataset is None:
            raise ValueError("--dataset is required for a model outside the registry")
    x, y = load_dataset(
        dataset,
        split=args.split,
        data_dir=args.data_dir,
        limit=args.n,
        verify=not args.no_verify_data,
    )
    info = {"model": name, "dataset": f"{dataset}/{args.split}", "seed": args.seed}
    return model, x, y, info


def threat_of(args: argparse.Namespace) -> ThreatModel:
    """The threat model of ``--norm``/``--eps`` (the demo's ε when no model is given)."""
    if args.eps is None:
        if args.model is not None:
            raise ValueError("--eps is required with --model (e.g. --eps 0.3 for MNIST L∞)")
        args.eps = DEMO_EPS
    return THREATS[args.norm](args.eps)
