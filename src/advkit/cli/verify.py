"""``advkit verify``: re-check an evaluation from the evidence it kept, or verify networks.

The first argument says what is verified: a results JSON (``.json``) written by ``advkit
evaluate`` is re-verified from its adversarial examples
(:func:`advkit.evaluate.verify.verify_results`): the schema version, the examples file's
sha256, the model's and data's fingerprint, then every example independently of the
attacks, and robust accuracy recomputed at every ε. It prints a short table and exits
with status 0 when everything agrees, 2 with a line naming the samples otherwise.

``advkit verify MODEL.onnx PROPERTY.vnnlib --timeout T`` verifies a VNN-LIB property on
an ONNX network and ``advkit verify --instances instances.csv`` a VNN-COMP benchmark
folder (see :mod:`advkit.cli.verify_vnn`).

Example:
    advkit evaluate --out results/run.json      # writes run.json and run.adv.safetensors
    advkit verify results/run.json
    advkit verify net.onnx prop.vnnlib --timeout 60
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advkit.cli.errors import UsageError
from advkit.cli.json_text import to_json
from advkit.cli.verify_vnn import add_vnn_options, run_instances_command, run_property
from advkit.evaluate.verification import Verification
from advkit.evaluate.verify import verify_results

__all__ = ["register", "run", "verified"]


def register(sub: Any) -> None:
    """Add the ``verify`` subcommand to the subparsers ``sub``."""
    ve = sub.add_parser(
        "verify",
        help="re-check the adversarial examples behind a results JSON of advkit evaluate, "
        "or verify a VNN-LIB property on an ONNX network",
    )
    ve.add_argument(
        "targets",
        nargs="*",
        metavar="FILE",
        help="RESULTS.json written by advkit evaluate --out, or MODEL.onnx PROPERTY.vnnlib",
    )
    ve.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_vnn_options(ve)
    ve.set_defaults(func=run)


_FORMS = (
    "advkit verify takes RESULTS.json (the results file advkit evaluate wrote, e.g. advkit "
    "verify results/evaluation.json), MODEL.onnx PROPERTY.vnnlib (e.g. advkit verify net.onnx "
    "prop.vnnlib --timeout 60) or --instances instances.csv"
)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Dispatch on the files given: a results JSON is re-checked (the table printed; a
    disagreement is an error naming samples), an ONNX network and a VNN-LIB property are
    verified, ``--instances`` runs a benchmark."""
    paths = [Path(t) for t in args.targets]
    kinds = sorted(p.suffix for p in paths)
    if args.instances is not None and not paths:
        return run_instances_command(args)
    if args.instances is None and kinds == [".onnx", ".vnnlib"]:
        model, prop = sorted(paths, key=lambda p: p.suffix)
        return run_property(model, prop, args)
    if args.instances is not None or kinds != [".json"]:
        got = " ".join(args.targets) or "no file"
        if args.instances is not None:
            got = f"--instances {args.instances} with {got}"
        raise UsageError(f"{_FORMS}; got {got}")
    target = paths[0]
    check = verify_results(target)
    if args.json:
        print(to_json(check.to_dict()))
    else:
        print(check.table())
    return verified(check)


def verified(check: Verification) -> dict[str, Any]:
    """``check`` as JSON when it agrees; otherwise the error naming the samples."""
    if not check.ok:
        raise ValueError(f"verification failed: {check.failure()}")
    return check.to_dict()
