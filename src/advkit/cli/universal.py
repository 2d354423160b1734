"""``advkit universal``: one image-agnostic perturbation per ε and its held-out fooling rate.

Builds a universal perturbation (Moosavi-Dezfooli et al. 2017) on the first
``--train-n`` samples of the split for every ε of ``--eps``, measures it on the next
``--n`` samples (fooling rate: prediction changed; misclassification rate; the target
rate with ``--target``), prints a table, writes the numbers as JSON and the
perturbations as one image.

Example:
    advkit universal --model lenet5-natural --data-dir ~/mnist --eps 0.1,0.2,0.3 \\
        --train-n 500 --n 1000 --out results/universal.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advkit.attacks import PGD, DeepFool
from advkit.cli.common import add_common, floats, inputs_of, model_and_data
from advkit.cli.errors import UsageError
from advkit.cli.json_text import to_json, write_json
from advkit.cli.outputs import Output, atomic_write, check_outputs
from advkit.engine import Attack
from advkit.evaluate.figures import pyplot
from advkit.evaluate.universal import Fooling, Universal, UniversalPerturbation
from advkit.evaluate.universal_plot import plot_perturbations
from advkit.threat import THREATS

__all__ = ["register", "run"]

_IMAGE_SUFFIXES = (".png", ".pdf", ".svg")
_PRETTY = {"linf": "L∞", "l2": "L2"}


def register(sub: Any) -> None:
    """Add the ``universal`` subcommand to the subparsers ``sub``."""
    un = sub.add_parser(
        "universal",
        help="one perturbation for all inputs: its fooling rate on held-out data per ε",
        conflict_handler="resolve",
    )
    add_common(un)
    un.add_argument("--norm", default="linf", choices=sorted(_PRETTY))
    un.add_argument(
        "--eps", type=floats, required=True, help="radii, comma-separated (e.g. 0.1,0.2,0.3)"
    )
    un.add_argument(
        "--train-n", type=int, default=500, help="build δ on the first N samples (default 500)"
    )
    un.add_argument(
        "--n", type=int, default=1000, help="measure it on the next N samples (default 1000)"
    )
    un.add_argument("--inner", default="deepfool", choices=["deepfool", "pgd"])
    un.add_argument("--steps", type=int, default=10, help="steps of the inner attack")
    un.add_argument("--passes", type=int, default=5, help="at most N passes (default 5)")
    un.add_argument(
        "--target-rate", type=float, default=0.8, help="stop at this training rate (0.8)"
    )
    un.add_argument("--target", type=int, help="targeted: send the inputs to this class")
    un.add_argument("--out", default="results/universal.json", help="JSON result file")
    un.add_argument("--image", help="perturbation image (default: the JSON path with .png)")
    un.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build δ for every ε, measure it on the held-out samples, print and write."""
    out = Path(args.out)
    image = Path(args.image) if args.image else out.with_suffix(".png")
    check_outputs(
        [
            Output("--out", out, "JSON results", (".json",)),
            Output("--image" if args.image else "--out", image, "image", _IMAGE_SUFFIXES),
        ],
        inputs_of(args),
    )
    pyplot("the image of advkit universal")
    if args.train_n < 1 or args.n < 1:
        raise UsageError(f"--train-n and --n must be >= 1, got {args.train_n} and {args.n}")
    if not args.eps:
        raise UsageError("--eps needs at least one radius, e.g. --eps 0.1,0.2")
    total, args.n = args.n, args.train_n + args.n
    model, x, y, info = model_and_data(args, "--train-n + --n")
    if x.shape[0] <= args.train_n:
        raise UsageError(
            f"{info['dataset']} has {x.shape[0]} samples, none left after --train-n "
            f"{args.train_n}; lower --train-n"
        )
    train, held, y_held = x[: args.train_n], x[args.train_n :], y[args.train_n :]
    inner: Attack = DeepFool(steps=args.steps) if args.inner == "deepfool" else PGD(args.steps)
    runs, deltas = [], {}
    for eps in args.eps:
        method = UniversalPerturbation(
            THREATS[args.norm](eps),
            inner=inner,
            target_rate=args.target_rate,
            passes=args.passes,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        u = method.fit(model, train, target=args.target)
        deltas[eps] = u.delta
        runs.append({"eps": eps, **_summary(u, u.fooling(model, held, y_held, args.batch_size))})
    atomic_write(image, lambda tmp: plot_perturbations(deltas, tmp, _PRETTY[args.norm]))
    summary = {
        **info,
        "norm": args.norm,
        "inner": repr(inner),
        "target": args.target,
        "train_n": int(train.shape[0]),
        "held_out_n": int(held.shape[0]),
        "requested_n": total,
        "runs": runs,
        "image": str(image),
    }
    write_json(out, summary)
    print(to_json(summary) if args.json else _table(summary, out, image))
    return summary


def _summary(u: Universal, rate: Fooling) -> dict[str, Any]:
    return {
        "held_out": rate.to_dict(),
        "train_rates": list(u.train_rates),
        "passes": len(u.train_rates),
        "gradient_calls": u.gradient_calls,
        "seconds": u.seconds,
    }


def _table(summary: dict[str, Any], out: Path, image: Path) -> str:
    goal = "" if summary["target"] is None else f"  to class {summary['target']}"
    lines = [
        f"universal perturbation, {summary['model']}, {summary['norm']}{goal}: built on "
        f"{summary['train_n']}, measured on {summary['held_out_n']} held-out samples",
        f"{'eps':>8} {'fooling':>8} {'misclass':>9} {'target':>7} {'passes':>6} {'seconds':>8}",
    ]
    for r in summary["runs"]:
        h = r["held_out"]
        target = "-" if h["target_rate"] is None else f"{h['target_rate']:.1%}"
        lines.append(
            f"{r['eps']:>8g} {h['fooling_rate']:>8.1%} {h['misclassification_rate']:>9.1%} "
            f"{target:>7} {r['passes']:>6} {r['seconds']:>8.1f}"
        )
    lines.append(f"written {out} and {image}")
    return "\n".join(lines)
