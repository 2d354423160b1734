"""The ``advkit`` command line: ``evaluate``, ``attack`` and ``list``.

``advkit evaluate`` with no arguments is the embedded default: it trains (first run only,
seconds, then cached) a small CNN on scikit-learn's built-in digits, evaluates it with the
``standard`` suite at L∞ ε = 0.1 plus an accuracy-vs-ε curve, prints a table and writes a
JSON result file (and a SQLite store beside it, so an interrupted run resumes).

Examples:
    advkit evaluate
    advkit evaluate --model lenet5-pgd --dataset mnist --data-dir ~/mnist --eps 0.3 --n 1000
    advkit attack --attack apgd --model lenet5-natural --data-dir ~/mnist --eps 0.3 \\
        --out adv.npz
    advkit list
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from advkit.attacks.catalog import ATTACKS, make_attack
from advkit.attacks.run import attack
from advkit.data import DATASETS, load_dataset
from advkit.demo import DEMO_EPS, demo_model
from advkit.evaluate.run import evaluate
from advkit.evaluate.suites import SUITES
from advkit.models import MODELS, load_model
from advkit.store import StoreMismatch
from advkit.threat import L1, L2, Linf, ThreatModel

__all__ = ["main"]

_THREATS: dict[str, type[ThreatModel]] = {"linf": Linf, "l2": L2, "l1": L1}
DEMO_CURVE = (0.02, 0.05, 0.2)


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and data")
    g.add_argument(
        "--model",
        help="registry name (see `advkit list`), 'package.module:factory', or a TorchScript "
        "file; default: the built-in digits CNN",
    )
    g.add_argument("--checkpoint", help="weights file (state dict, loaded weights_only)")
    g.add_argument("--dataset", choices=sorted(DATASETS), help="default: the model's dataset")
    g.add_argument("--data-dir", help="local folder with the dataset files (no download)")
    g.add_argument("--split", default="test", choices=["train", "test", "all"])
    g.add_argument("--n", type=int, help="use only the first N samples")
    t = p.add_argument_group("threat")
    t.add_argument("--norm", default="linf", choices=sorted(_THREATS))
    t.add_argument("--eps", type=float, help=f"radius (default {DEMO_EPS} for the demo)")
    r = p.add_argument_group("run")
    r.add_argument("--batch-size", type=int, default=256)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--quiet", action="store_true", help="no progress bars or log messages")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advkit",
        description="How robust is this classifier really? Attacks, evaluation, reports.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="clean and robust accuracy under an attack suite")
    _common(ev)
    ev.add_argument("--suite", default="standard", choices=sorted(SUITES))
    ev.add_argument("--eps-curve", type=_floats, help="more ε values, e.g. 0.05,0.1,0.2")
    ev.add_argument("--out", default="results/evaluation.json", help="JSON result file")
    ev.add_argument(
        "--store", help="SQLite store for resuming (default: the --out path with .sqlite)"
    )
    ev.add_argument("--fresh", action="store_true", help="discard a previous store first")
    at = sub.add_parser("attack", help="run one attack and save the adversarial examples")
    _common(at)
    at.add_argument("--attack", default="apgd", choices=sorted(ATTACKS))
    at.add_argument("--steps", type=int)
    at.add_argument("--restarts", type=int)
    at.add_argument("--out", default="results/adversarial.npz", help=".npz or .pt file")
    sub.add_parser("list", help="attacks, suites, models and datasets")
    return parser


def _model_and_data(args: argparse.Namespace) -> tuple[nn.Module, Tensor, Tensor, dict[str, Any]]:
    if args.model is None:
        if args.checkpoint is not None:
            raise ValueError("--checkpoint needs --model")
        model, dataset, name = demo_model(), args.dataset or "digits", "digits-cnn (built-in)"
    else:
        model, name = load_model(args.model, args.checkpoint), args.model
        dataset = args.dataset or (MODELS[args.model].dataset if args.model in MODELS else None)
        if dataset is None:
            raise ValueError("--dataset is required for a model outside the registry")
    x, y = load_dataset(dataset, split=args.split, data_dir=args.data_dir, limit=args.n)
    info = {"model": name, "dataset": f"{dataset}/{args.split}", "seed": args.seed}
    return model, x, y, info


def _threat(args: argparse.Namespace) -> ThreatModel:
    if args.eps is None:
        if args.model is not None:
            raise ValueError("--eps is required with --model (e.g. --eps 0.3 for MNIST L∞)")
        args.eps = DEMO_EPS
    return _THREATS[args.norm](args.eps)


def _cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    threat = _threat(args)
    model, x, y, info = _model_and_data(args)
    curve = args.eps_curve if args.eps_curve is not None else ([] if args.model else DEMO_CURVE)
    out = Path(args.out)
    store = Path(args.store) if args.store else out.with_suffix(".sqlite")
    if args.fresh and store.exists():
        store.unlink()
    try:
        ev = evaluate(
            model,
            (x, y),
            threat,
            args.suite,
            eps_curve=curve,
            batch_size=args.batch_size,
            seed=args.seed,
            store=store,
            progress=not args.quiet,
            info=info,
        )
    except StoreMismatch as err:
        raise ValueError(f"{err} (or pass --fresh)") from err
    result = ev.to_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(ev.to_dict(with_samples=False), indent=1))
    else:
        print(ev.table())
        print(f"\nresults written to {out} (per-sample records in {store})")
    return result


def _cmd_attack(args: argparse.Namespace) -> dict[str, Any]:
    threat = _threat(args)
    model, x, y, info = _model_and_data(args)
    method = make_attack(args.attack, steps=args.steps, restarts=args.restarts)
    parts = []
    index = torch.arange(x.shape[0])
    for start in tqdm(range(0, x.shape[0], args.batch_size), disable=args.quiet, desc="attack"):
        sl = slice(start, start + args.batch_size)
        parts.append(attack(model, x[sl], y[sl], threat, method, seed=args.seed, index=index[sl]))
    fields = {
        "x_adv": torch.cat([r.x_adv for r in parts]),
        "x": x,
        "y": y,
        "success": torch.cat([r.success for r in parts]),
        "distance": torch.cat([r.distance for r in parts]),
        "queries": torch.cat([r.queries for r in parts]),
        "gradient_calls": torch.cat([r.gradient_calls for r in parts]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".pt":
        torch.save(fields, out)
    else:
        arrays: dict[str, Any] = {k: v.numpy() for k, v in fields.items()}
        np.savez_compressed(out, **arrays)
    success = fields["success"]
    summary = {
        **info,
        "attack": repr(method),
        "threat": threat.describe(),
        "n": int(x.shape[0]),
        "success_rate": float(success.float().mean()),
        "mean_distance_successful": float(fields["distance"][success].mean())
        if success.any()
        else None,
        "gradient_calls": int(fields["gradient_calls"].sum()),
        "output": str(out),
    }
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        for k, v in summary.items():
            print(f"{k:26s} {v}")
    return summary


def _cmd_list() -> None:
    print("attacks:")
    for name, (_, doc) in ATTACKS.items():
        print(f"  {name:10s} {doc}")
    print("suites:")
    for name, make in SUITES.items():
        print(f"  {name:10s} {' -> '.join(n for n, _ in make())}")
    print("models (checkpoints: $ADVKIT_SHARED_DATA or --checkpoint):")
    for name, spec in MODELS.items():
        print(f"  {name:26s} {spec.dataset:14s} {spec.description}")
    print("datasets:")
    for name, info in DATASETS.items():
        print(f"  {name:14s} {info.description}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``advkit`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="advkit: %(message)s",
    )
    try:
        if args.command == "list":
            _cmd_list()
        elif args.command == "evaluate":
            _cmd_evaluate(args)
        else:
            _cmd_attack(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"advkit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
