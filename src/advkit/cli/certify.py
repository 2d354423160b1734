"""``advkit certify``: certify a dataset with IBP, CROWN, α-CROWN or MIP; print the table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from advkit.certify import CERTIFIERS, MIP, BaB, Certifier
from advkit.certify.run import certify
from advkit.cli.common import add_common, inputs_of, model_and_data, threat_of
from advkit.cli.json_text import to_json, write_json
from advkit.cli.outputs import Output, check_outputs
from advkit.cli.workers import add_workers
from advkit.distributed import is_main

__all__ = ["make_certifier", "register", "run"]


def make_certifier(name: str, time_limit: float | None = None) -> Certifier:
    """The certifier called ``name`` (see ``advkit.certify.CERTIFIERS``)."""
    if name not in CERTIFIERS:
        raise ValueError(f"unknown certifier {name!r}; choose from {', '.join(CERTIFIERS)}")
    if name == "mip" and time_limit is not None:
        return MIP(time_limit=time_limit)
    if name == "bab" and time_limit is not None:
        return BaB(time_limit=time_limit)
    return CERTIFIERS[name]()


def register(sub: Any) -> None:
    """Add the ``certify`` subcommand to the subparsers ``sub``."""
    ce = sub.add_parser("certify", help="prove robustness per sample (IBP, CROWN, MIP...)")
    add_common(ce)
    ce.add_argument("--method", default="crown", choices=sorted(CERTIFIERS))
    ce.add_argument("--time-limit", type=float, help="MIP/BaB seconds per sample (default 60/30)")
    ce.add_argument("--out", default="results/certify.json", help="JSON result file")
    ce.add_argument(
        "--store", help="SQLite file of the finished batches: rerunning resumes from it"
    )
    add_workers(ce)
    ce.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Certify batch by batch, print a summary and write per-sample records."""
    out = Path(args.out)
    outputs = [Output("--out", out, "JSON results", (".json",))]
    if args.store:
        outputs.append(Output("--store", Path(args.store), "store of the finished batches"))
    check_outputs(outputs, inputs_of(args))
    threat = threat_of(args)
    method = make_certifier(args.method, args.time_limit)
    model, x, y, info = model_and_data(args)
    batch_size = min(args.batch_size, 64)
    res = certify(model, x, y, threat, method, batch_size=batch_size, store=args.store)
    if not is_main():  # another rank of a distributed run: rank 0 writes the results
        return {}
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    status = res.status()
    summary: dict[str, Any] = {
        **info,
        "method": repr(method),
        "threat": threat.describe(),
        "n": int(x.shape[0]),
        "clean_accuracy": clean,
        "certified_accuracy": res.certified_accuracy,
        "attacked": status.count("attacked"),
        "unknown": status.count("unknown"),
        "seconds": res.seconds,
        "seconds_per_sample": res.seconds / max(1, x.shape[0]),
    }
    samples = [
        {"index": i, "label": int(y[i]), "lower": float(res.lower[i]), "status": s}
        for i, s in enumerate(status)
    ]
    write_json(out, {**summary, "samples": samples})
    if args.json:
        print(to_json(summary))
    else:
        for k, v in summary.items():
            print(f"{k:22s} {v}")
        print(f"\nper-sample records written to {out}")
    return summary
