"""``advkit verify MODEL.onnx PROPERTY.vnnlib`` and ``advkit verify --instances CSV``.

A property prints VNN-COMP's answer (``sat`` and the counterexample, ``unsat``,
``unknown`` or ``timeout``; written to ``--out`` too when given); a benchmark folder's
``instances.csv`` (lines ``onnx,vnnlib,timeout``, paths relative to the CSV) is verified
line by line into the results CSV ``--out`` (default ``results.csv``), with the result,
deciding stage and seconds per instance (see :mod:`advkit.certify.vnn_instances`).

Example:
    advkit verify net.onnx prop.vnnlib --timeout 60
    advkit verify --instances benchmark/instances.csv --out results.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advkit.certify.vnn import verify_files
from advkit.certify.vnn_instances import run_instances
from advkit.cli.outputs import Output, atomic_write, check_outputs

__all__ = ["add_vnn_options", "run_instances_command", "run_property"]


def add_vnn_options(parser: argparse.ArgumentParser) -> None:
    """The options of the VNN-COMP forms of ``advkit verify``."""
    parser.add_argument(
        "--instances",
        metavar="CSV",
        help="a VNN-COMP instances.csv (onnx,vnnlib,timeout per line) to verify line by line",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to verify MODEL.onnx PROPERTY.vnnlib (default 60)",
    )
    parser.add_argument(
        "--out",
        help="the result file of a property (VNN-COMP format), or the results CSV of "
        "--instances (default results.csv)",
    )


def run_property(model: Path, prop: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Verify one property, print the VNN-COMP answer, write it to ``--out`` if given."""
    out = Path(args.out) if args.out else None
    if out is not None:
        check_outputs([Output("--out", out, "result file")], {"model": model, "property": prop})
    result = verify_files(model, prop, args.timeout)
    text = result.to_text()
    print(text)
    if out is not None:
        atomic_write(out, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    return {"result": result.status, "seconds": result.seconds, "stage": result.stage}


def run_instances_command(args: argparse.Namespace) -> dict[str, Any]:
    """Verify every line of ``--instances`` into the results CSV and print a summary."""
    source = Path(args.instances)
    out = Path(args.out or "results.csv")
    check_outputs([Output("--out", out, "results CSV", (".csv",))], {"--instances": source})
    rows = run_instances(source, out)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["result"]] = counts.get(row["result"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{len(rows)} instances: {summary}; results in {out}")
    return {"instances": len(rows), "results": counts, "out": str(out)}
