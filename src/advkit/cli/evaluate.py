"""``advkit evaluate``: clean and robust accuracy under an attack suite, resumable."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch

from advkit.access import eval_mode
from advkit.attacks.adaptive import EOT_SAMPLES
from advkit.attacks.catalog import make_attack, names
from advkit.attacks.gradient import FGM
from advkit.attacks.noise import RandomNoise
from advkit.certify import CERTIFIERS
from advkit.cli.certify import make_certifier
from advkit.cli.common import add_common, attack_batches, floats, model_and_data, threat_of
from advkit.distortion import distortion_of
from advkit.evaluate.report import Evaluation
from advkit.evaluate.run import evaluate
from advkit.evaluate.sandwich import plot_sandwich, sandwich, sandwich_table
from advkit.evaluate.suites import SUITES, get_suite
from advkit.store import StoreMismatch
from advkit.traits import mark_random

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
        "--minimal",
        choices=names(minimal=True),
        help="instead of a suite, run this minimal-distortion attack once and report its "
        "distortion and the accuracy-vs-ε curve read off the per-sample minimal distances "
        "(--eps is then a cap; --eps inf for none)",
    )
    ev.add_argument(
        "--adaptive",
        action="store_true",
        help="when the gradient-masking checks raise flags, re-evaluate with the adaptive "
        "attacks they name (FGSM and random noise added to the cascade, EOT for a "
        "non-deterministic model) and report that result",
    )
    ev.add_argument(
        "--eot-samples", type=int, default=EOT_SAMPLES, help="draws per EOT evaluation (20)"
    )
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
    if args.minimal:
        return _run_minimal(args, threat, model, x, y, info)
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
        suite = [*get_suite(args.suite, threat.name), ("fgsm", FGM()), ("noise", RandomNoise())]
        adaptive_store = store.with_name(store.stem + "-adaptive.sqlite")
        if args.fresh and adaptive_store.exists():
            adaptive_store.unlink()
        ev = run_suite(suite, adaptive_store)
    result = ev.to_dict()
    if first is not None:
        result["before_adaptive"] = first.to_dict(with_samples=False)
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
        if first is not None:
            print(first.table())
            print("\n--adaptive: re-evaluated with the attacks the flags name\n")
        elif args.adaptive:
            print("--adaptive: no gradient-masking flags, the suite's result stands\n")
        print(ev.table())
        if rows is not None:
            print("\n" + sandwich_table(rows, args.certify))
        print(f"\nresults written to {out} (per-sample records in {store})")
    return result


def _run_minimal(
    args: argparse.Namespace, threat: Any, model: Any, x: Any, y: Any, info: dict[str, Any]
) -> dict[str, Any]:
    """One minimal-distortion attack: distortion report and the curve from its distances."""
    method = make_attack(args.minimal)
    found = attack_batches(args, model, x, y, threat, method)
    x_adv, success, distance = found["x_adv"], found["success"], found["distance"]
    with eval_mode(model), torch.no_grad():
        pred = torch.cat(
            [
                model(x[i : i + args.batch_size]).argmax(dim=1)
                for i in range(0, x.shape[0], args.batch_size)
            ]
        )
    eps_values = sorted({*(args.eps_curve or []), *([args.eps] if math.isfinite(args.eps) else [])})
    curve = [
        {
            "eps": e,
            "robust_accuracy": 1.0 - float((success & (distance <= e + 1e-6)).float().mean()),
        }
        for e in eps_values
    ]
    rep = distortion_of(x_adv, x, success)
    result = {
        **info,
        "attack": repr(method),
        "threat": threat.describe(),
        "n": int(x.shape[0]),
        "clean_accuracy": float((pred == y).float().mean()),
        "distortion": rep.to_dict(),
        "curve": curve,
        "minimal_distance": distance.tolist(),
        "success": success.tolist(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if args.json:
        print(
            json.dumps(
                {k: v for k, v in result.items() if k not in ("minimal_distance", "success")},
                indent=1,
            )
        )
    else:
        print(f"clean accuracy   {100 * result['clean_accuracy']:6.2f}%   (n={result['n']})")
        print(rep.table(args.minimal))
        for c in curve:
            print(f"eps {c['eps']:<8g} robust accuracy ≤ {100 * c['robust_accuracy']:6.2f}%")
        print(f"\nresults written to {out}")
    return result
