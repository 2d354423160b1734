"""``advkit evaluate``: clean and robust accuracy under an attack suite, resumable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from advkit.attacks.gradient import FGM
from advkit.attacks.noise import RandomNoise
from advkit.cli.common import add_common, floats, model_and_data, threat_of
from advkit.defenses.transforms import mark_random
from advkit.evaluate.report import Evaluation
from advkit.evaluate.run import evaluate
from advkit.evaluate.suites import SUITES, get_suite
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
        "--adaptive",
        action="store_true",
        help="when the gradient-masking checks raise flags, re-evaluate with the adaptive "
        "attacks they name (FGSM and random noise added to the cascade, EOT for a "
        "non-deterministic model) and report that result",
    )
    ev.add_argument("--eot-samples", type=int, default=10, help="draws per EOT evaluation")
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

    def run_suite(suite: Any, store: Path) -> Evaluation:
        try:
            return evaluate(
                model,
                (x, y),
                threat,
                suite,
                eps_curve=curve,
                batch_size=args.batch_size,
                seed=args.seed,
                store=store,
                progress=not args.quiet,
                info=info,
                eot_samples=args.eot_samples,
            )
        except StoreMismatch as err:
            raise ValueError(f"{err} (or pass --fresh)") from err

    ev = run_suite(args.suite, store)
    first = None
    if args.adaptive and ev.masking:
        first = ev
        if any(f["check"] == "nondeterministic" for f in ev.masking):
            mark_random(model)
        suite = [*get_suite(args.suite), ("fgsm", FGM()), ("noise", RandomNoise())]
        adaptive_store = store.with_name(store.stem + "-adaptive.sqlite")
        if args.fresh and adaptive_store.exists():
            adaptive_store.unlink()
        ev = run_suite(suite, adaptive_store)
    result = ev.to_dict()
    if first is not None:
        result["before_adaptive"] = first.to_dict(with_samples=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(ev.to_dict(with_samples=False), indent=1))
    else:
        if first is not None:
            print(first.table())
            print("\n--adaptive: re-evaluated with the attacks the flags name\n")
        elif args.adaptive:
            print("--adaptive: no gradient-masking flags, the suite's result stands\n")
        print(ev.table())
        print(f"\nresults written to {out} (per-sample records in {store})")
    return result
