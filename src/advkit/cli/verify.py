"""``advkit verify RESULTS.json``: re-check an evaluation from the evidence it kept.

The first argument says what is verified: a results JSON (``.json``) written by ``advkit
evaluate`` is re-verified from its adversarial examples
(:func:`advkit.evaluate.verify.verify_results`): the schema version, the examples file's
sha256, the model's and data's fingerprint, then every example independently of the
attacks, and robust accuracy recomputed at every ε. It prints a short table and exits
with status 0 when everything agrees, 2 with a line naming the samples otherwise.

Example:
    advkit evaluate --out results/run.json      # writes run.json and run.adv.safetensors
    advkit verify results/run.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advkit.cli.errors import UsageError
from advkit.cli.json_text import to_json
from advkit.evaluate.verification import Verification
from advkit.evaluate.verify import verify_results

__all__ = ["register", "run", "verified"]


def register(sub: Any) -> None:
    """Add the ``verify`` subcommand to the subparsers ``sub``."""
    ve = sub.add_parser(
        "verify",
        help="re-check the adversarial examples behind a results JSON of advkit evaluate",
    )
    ve.add_argument(
        "target", metavar="RESULTS.json", help="results written by advkit evaluate --out"
    )
    ve.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ve.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Verify the target and print the table; a disagreement is an error naming samples."""
    target = Path(args.target)
    if target.suffix != ".json":
        raise UsageError(
            f"advkit verify takes RESULTS.json, the results file advkit evaluate wrote "
            f"(e.g. advkit verify results/evaluation.json); got {target}"
        )
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
