"""``advkit attack``: run one attack and save the adversarial examples."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advkit.attacks.catalog import ATTACKS, make_attack
from advkit.cli.common import add_common, inputs_of, model_and_data, refuse_unbounded, threat_of
from advkit.cli.json_text import to_json
from advkit.cli.outputs import Output, atomic_write, check_outputs
from advkit.cli.precision import add_precision
from advkit.distortion import distortion_report, sample_distances
from advkit.evaluate.batched import Batches
from advkit.result import AttackResult

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``attack`` subcommand to the subparsers ``sub``."""
    at = sub.add_parser("attack", help="run one attack and save the adversarial examples")
    add_common(at)
    add_precision(at)
    at.add_argument("--attack", default="apgd-ce", choices=sorted(ATTACKS))
    at.add_argument("--steps", type=int)
    at.add_argument("--restarts", type=int)
    at.add_argument("--out", default="results/adversarial.npz", help=".npz or .pt file")
    at.add_argument(
        "--report",
        action="store_true",
        help="add the distortion report: success rate, L0/L1/L2/L∞ mean and median, and "
        "(with --json) each sample's success and distance in the threat's norm",
    )
    at.add_argument(
        "--cases",
        action="store_true",
        help="with --report: also attack every incorrect label and report the best, "
        "average and worst case over targets (K − 1 targeted runs)",
    )
    at.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Attack batch by batch, save x_adv and per-sample records, print a summary."""
    if args.cases and not args.report:
        raise ValueError("--cases is part of the distortion report; add --report")
    out = Path(args.out)
    check_outputs([Output("--out", out, "adversarial examples", (".npz", ".pt"))], inputs_of(args))
    threat = threat_of(args)
    refuse_unbounded([args.eps], [args.attack], "--eps", "--attack deepfool")
    method = make_attack(args.attack, steps=args.steps, restarts=args.restarts)
    model, x, y, info = model_and_data(args)
    batches = Batches(args.batch_size, args.seed, progress=not args.quiet, precision=args.precision)
    res = batches.attack(model, x, y, threat, method)
    _save(res, x, y, out)
    summary = {
        **info,
        "attack": repr(method),
        "threat": threat.describe(),
        "n": int(x.shape[0]),
        "success_rate": res.success_rate,
        "mean_distance_successful": float(res.distance[res.success].mean())
        if res.success.any()
        else None,
        "gradient_calls": int(res.gradient_calls.sum()),
        "output": str(out),
    }
    tables = []
    if args.report:
        rep = distortion_report(res)
        summary["distortion"] = {**rep.to_dict(), **sample_distances(res)}
        tables.append(rep.table("untargeted"))
    if args.cases:
        found = batches.target_cases(model, x, y, threat, method)
        cases = found.reports()
        summary["target_cases"] = {
            k: {**r.to_dict(), **sample_distances(getattr(found, k))} for k, r in cases.items()
        }
        tables += [r.table(f"{k} case") for k, r in cases.items()]
    if args.json:
        print(to_json(summary))
    else:
        for k, v in summary.items():
            if k not in ("distortion", "target_cases"):
                print(f"{k:26s} {v}")
        for t in tables:
            print(t)
    return summary


def _save(res: AttackResult, x: torch.Tensor, y: torch.Tensor, out: Path) -> None:
    """Write the examples, per-sample fields and (x, y) as .pt (tensors) or .npz (arrays)."""
    fields = {
        "x_adv": res.x_adv,
        "success": res.success,
        "distance": res.distance,
        "queries": res.queries,
        "gradient_calls": res.gradient_calls,
        "x": x,
        "y": y,
    }
    if out.suffix == ".pt":
        atomic_write(out, lambda tmp: torch.save(fields, tmp))
    else:
        arrays: dict[str, Any] = {k: v.cpu().numpy() for k, v in fields.items()}
        atomic_write(out, lambda tmp: np.savez_compressed(tmp, **arrays))
