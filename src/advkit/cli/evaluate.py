"""``advkit evaluate``: clean and robust accuracy under an attack suite, resumable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from advkit.certify import CERTIFIERS
from advkit.cli.certify import make_certifier
from advkit.cli.common import add_common, floats, model_and_data, threat_of
from advkit.evaluate.run import evaluate
from advkit.evaluate.sandwich import plot_sandwich, sandwich, sandwich_table
from advkit.evaluate.suites import SUITES
from advkit.store import StoreMismatch

__all__ = ["DEMO_CURVE", "register", "run"]

DEMO_CURVE = (0.02, 0.05, 0.2)


def register(sub: Any) -> None:
    """Add the ``evaluate`` subcommand to the subparsers ``sub``."""
    ev = sub.add_parser("evaluate", help="clean and robust accuracy under an attack suite")
    add_common(ev)
    ev.add_argument("--suite", default="standard", choices=sorted(SUITES))
    ev.add_argument("--eps-curve", type=floats, help="more ε values, e.g. 0.05,0.1,0.2")
    ev.add_argument("--out", default="results/evaluation.json", help="JSON result file")
    ev.add_argument(
        "--store", help="SQLite store for resuming (default: the --out path with .sqlite)"
    )
    ev.add_argument("--fresh", action="store_true", help="discard a previous store first")
    ev.add_argument(
        "--certify",
        choices=sorted(CERTIFIERS),
        help="also certify every sample at every ε: per-sample certified/attacked/unknown, "
        "the interval [certified, robust accuracy] and a plot (the --out path with .png)",
    )
    ev.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate, print a table (or JSON) and write the result file."""
    threat = threat_of(args)
    model, x, y, info = model_and_data(args)
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
    rows = None
    if args.certify:
        rows = sandwich(ev, model, x, y, threat, make_certifier(args.certify))
        result["sandwich"] = {"method": args.certify, "rows": rows}
        result["sandwich"]["plot"] = str(
            plot_sandwich(rows, out.with_suffix(".png"), f"{info['model']} ({args.certify})")
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if args.json:
        brief = ev.to_dict(with_samples=False)
        if rows is not None:
            brief["sandwich"] = [{k: v for k, v in r.items() if k != "status"} for r in rows]
        print(json.dumps(brief, indent=1))
    else:
        print(ev.table())
        if rows is not None:
            print("\n" + sandwich_table(rows, args.certify))
        print(f"\nresults written to {out} (per-sample records in {store})")
    return result
