"""``advkit transfer``: the transferability matrix of a set of models.

Crafts untargeted examples white-box on each model (any white-box attack of the catalog:
FGM, PGD, C&W or EAD with κ as the transferability knob, ...), tests them on every model,
prints the matrix of success rates, writes it as JSON and plots it.

Example:
    advkit transfer --models lenet5-natural,lenet5-pgd,cnn-small --data-dir ~/mnist \\
        --eps 0.3 --attack pgd --n 200 --ensemble --out results/transfer.json
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from advkit.access import Access
from advkit.attacks import catalog
from advkit.attacks.catalog import ATTACKS, make_attack
from advkit.cli.common import THREATS, add_data_dir, load_data, number, refuse_unbounded
from advkit.cli.device import add_device, device_of
from advkit.cli.json_text import to_json, write_json
from advkit.cli.outputs import Output, atomic_write, check_outputs
from advkit.data import DATASETS
from advkit.evaluate.figures import pyplot
from advkit.evaluate.transferability import transferability_matrix
from advkit.models import MODELS, load_model

__all__ = ["register", "run"]

_ATTACKS = catalog.names(access=Access.WHITE_BOX)
_KAPPA = [name for name in _ATTACKS if "kappa" in ATTACKS[name].options]
_PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def register(sub: Any) -> None:
    """Add the ``transfer`` subcommand to the subparsers ``sub``."""
    tr = sub.add_parser(
        "transfer", help="transferability matrix: craft on each model, test on every model"
    )
    tr.add_argument("--models", required=True, help="comma-separated registry names")
    tr.add_argument("--dataset", choices=sorted(DATASETS), help="default: the models' dataset")
    add_data_dir(tr)
    tr.add_argument("--split", default="test", choices=["train", "test", "all"])
    tr.add_argument("--n", type=int, default=100, help="use the first N samples (default 100)")
    tr.add_argument("--norm", default="linf", choices=sorted(THREATS))
    tr.add_argument(
        "--eps", type=number, help="radius; required except for minimal attacks (default inf)"
    )
    tr.add_argument("--attack", default="pgd", choices=_ATTACKS)
    tr.add_argument("--steps", type=int)
    tr.add_argument(
        "--kappa", type=float, help=f"{'/'.join(_KAPPA)} confidence κ (transferability knob)"
    )
    tr.add_argument(
        "--ensemble",
        action="store_true",
        help="add a row: examples crafted on the ensemble of all other models (no-box)",
    )
    tr.add_argument("--out", default="results/transfer.json", help="JSON result file")
    tr.add_argument("--plot", help="heat map file (default: the JSON path with .png)")
    tr.add_argument("--batch-size", type=int, default=256)
    tr.add_argument("--seed", type=int, default=0)
    add_device(tr)
    tr.add_argument("--quiet", action="store_true", help="no log messages")
    tr.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tr.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the matrix, print it, write JSON and the plot."""
    out = Path(args.out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    check_outputs(
        [
            Output("--out", out, "JSON results", (".json",)),
            Output("--plot" if args.plot else "--out", plot, "heat map", _PLOT_SUFFIXES),
        ]
    )
    pyplot("the heat map of advkit transfer")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError("--models needs at least two different comma-separated models")
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; see `advkit list`")
    datasets = {MODELS[m].dataset for m in names}
    if args.dataset is None and len(datasets) > 1:
        raise ValueError(f"the models are for different datasets {sorted(datasets)}")
    dataset = args.dataset or datasets.pop()
    if args.kappa is not None and args.attack not in _KAPPA:
        raise ValueError(
            f"--kappa is the confidence of {'/'.join(_KAPPA)}; use --attack {' or '.join(_KAPPA)}"
        )
    if args.eps is None:
        if not ATTACKS[args.attack].info.minimal:
            raise ValueError(f"--eps is required with --attack {args.attack} (e.g. 0.3)")
        args.eps = math.inf
    threat = THREATS[args.norm](args.eps)
    refuse_unbounded([args.eps], [args.attack], "--eps", "--attack deepfool")
    method = make_attack(args.attack, steps=args.steps, kappa=args.kappa)
    models = {m: load_model(m) for m in names}
    x, y = load_data(args, dataset, args.split, args.n)
    device = device_of(args)
    x, y = x.to(device), y.to(device)
    for model in models.values():
        model.to(device)
    tm = transferability_matrix(
        models,
        x,
        y,
        threat,
        method,
        ensemble=args.ensemble,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    summary = {
        "dataset": f"{dataset}/{args.split}",
        "n": int(x.shape[0]),
        "threat": threat.describe(),
        "attack": repr(method),
        **tm.to_dict(),
        "plot": str(plot),
    }
    title = f"{args.attack}, {threat.describe()}, n={x.shape[0]}"
    atomic_write(plot, lambda tmp: tm.plot(tmp, title=title))
    write_json(out, summary)
    if args.json:
        print(to_json(summary))
    else:
        print(
            f"transfer success (% of samples each target classifies correctly), {summary['threat']}"
        )
        print(tm.table())
        print(f"written {out} and {plot}")
    return summary
