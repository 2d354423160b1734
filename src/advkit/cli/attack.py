"""``advkit attack``: run one attack and save the adversarial examples."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from advkit.access import eval_mode
from advkit.attacks.adaptive import adapt
from advkit.attacks.catalog import ATTACKS, make_attack
from advkit.cli.common import add_common, attack_batches, model_and_data, threat_of
from advkit.distortion import DistortionReport, distortion_of, target_cases

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``attack`` subcommand to the subparsers ``sub``."""
    at = sub.add_parser("attack", help="run one attack and save the adversarial examples")
    add_common(at)
    at.add_argument("--attack", default="apgd-ce", choices=sorted(ATTACKS))
    at.add_argument("--steps", type=int)
    at.add_argument("--restarts", type=int)
    at.add_argument("--out", default="results/adversarial.npz", help=".npz or .pt file")
    at.add_argument(
        "--report",
        action="store_true",
        help="add the distortion report: success rate, L0/L1/L2/L∞ mean and median",
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
    threat = threat_of(args)
    model, x, y, info = model_and_data(args)
    method = make_attack(args.attack, steps=args.steps, restarts=args.restarts)
    fields = {**attack_batches(args, model, x, y, threat, method), "x": x, "y": y}
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
    tables = []
    if args.cases and not args.report:
        raise ValueError("--cases is part of the distortion report; add --report")
    if args.report:
        rep = distortion_of(fields["x_adv"], x, success)
        summary["distortion"] = rep.to_dict()
        tables.append(rep.table("untargeted"))
        if args.cases:
            cases = _target_cases(args, model, x, y, threat, adapt(model, method))
            summary["target_cases"] = {k: r.to_dict() for k, r in cases.items()}
            tables += [r.table(f"{k} case") for k, r in cases.items()]
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        for k, v in summary.items():
            if k not in ("distortion", "target_cases"):
                print(f"{k:26s} {v}")
        for t in tables:
            print(t)
    return summary


def _target_cases(
    args: argparse.Namespace,
    model: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: Any,
    method: Any,
) -> dict[str, DistortionReport]:
    """Best/average/worst-case reports over every incorrect label, batch by batch."""
    index = torch.arange(x.shape[0])
    with eval_mode(model), torch.no_grad():
        num_classes = int(model(x[:1]).shape[1])
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for start in tqdm(range(0, x.shape[0], args.batch_size), disable=args.quiet, desc="cases"):
        sl = slice(start, start + args.batch_size)
        tc = target_cases(
            model,
            x[sl],
            y[sl],
            threat,
            method,
            num_classes=num_classes,
            seed=args.seed,
            index=index[sl],
        )
        for name, res in (("best", tc.best), ("average", tc.average), ("worst", tc.worst)):
            parts.setdefault(name, []).append((res.x_adv, res.success))
    return {
        name: distortion_of(torch.cat([a for a, _ in rows]), x, torch.cat([s for _, s in rows]))
        for name, rows in parts.items()
    }
