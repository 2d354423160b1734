"""The ``advkit`` command line: one module per subcommand.

``advkit evaluate`` with no arguments is the embedded default: it trains (first run only,
seconds, then cached) a small CNN on scikit-learn's built-in digits, evaluates it with the
``standard`` suite at L∞ ε = 0.1 plus an accuracy-vs-ε curve, prints a table and writes a
JSON result file (and beside it a SQLite store, so an interrupted run resumes, and the
adversarial examples that broke each sample, which ``advkit verify`` re-checks).

A new subcommand is a module with ``register(subparsers)`` (which sets ``func``) added to
``COMMANDS``. Every subcommand checks its output paths before any work
(:mod:`advkit.cli.outputs`); an expected failure is one line and exit status 2
(:mod:`advkit.cli.errors`), with the traceback only under ``--debug``.

Examples:
    advkit evaluate
    advkit evaluate --model lenet5-pgd --dataset mnist --data-dir ~/mnist --eps 0.3 --n 1000
    advkit attack --attack apgd-ce --model lenet5-natural --data-dir ~/mnist --eps 0.3 \\
        --out adv.npz
    advkit train --method pgd --eps 0.1 --epochs 20 --out results/digits-pgd.pt
    advkit certify --model kw-mnist-0.1 --data-dir ~/mnist --eps 0.1 --method crown
    advkit evaluate --model kw-mnist-0.1 --data-dir ~/mnist --eps 0.1 --certify crown
    advkit evaluate --model lenet5-pgd --eps 0.3 --n 1000 --workers 2   # two processes
    torchrun --nproc-per-node 2 -m advkit -- evaluate --model lenet5-pgd --eps 0.3 --n 1000
    advkit verify results/evaluation.json   # re-check the examples behind the numbers
    advkit report results/evaluation.json   # one HTML page: curves, attacks, gallery
    advkit leaderboard results/ --out results/leaderboard.html   # one table across runs
    advkit transfer --models lenet5-natural,lenet5-pgd,cnn-small --data-dir ~/mnist --eps 0.3
    advkit universal --model lenet5-natural --data-dir ~/mnist --eps 0.1,0.2,0.3
    advkit detect --detector feature-squeezing --model lenet5-natural --data-dir ~/mnist
    advkit list
    advkit --version
    advkit --debug evaluate --model lenet5-pgd --eps 0.3   # tracebacks for every failure
"""

from __future__ import annotations

import argparse
import logging
import sys

from advkit.cli import (
    attack,
    certify,
    detect,
    evaluate,
    leaderboard,
    listing,
    report,
    train,
    transfer,
    universal,
    verify,
)
from advkit.cli.errors import explain
from advkit.cli.evaluate import DEMO_CURVE
from advkit.cli.workers import launch, launches, rank_session
from advkit.demo import DEMO_EPS
from advkit.version import VERSION

__all__ = ["COMMANDS", "DEMO_CURVE", "DEMO_EPS", "main"]

COMMANDS = [
    evaluate,
    verify,
    report,
    leaderboard,
    attack,
    train,
    certify,
    transfer,
    universal,
    detect,
    listing,
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advkit",
        description="How robust is this classifier really? Attacks, evaluation, reports.",
    )
    parser.add_argument("--version", action="version", version=f"advkit {VERSION}")
    debug = "show the full traceback of a failure (for bug reports)"
    parser.add_argument("--debug", action="store_true", help=debug)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    for subparser in sub.choices.values():  # also after the subcommand's name
        subparser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=debug
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``advkit`` command; returns the exit status.

    An expected failure (see :func:`advkit.cli.errors.explain`) prints one line and
    returns 2; with ``--debug`` it raises, traceback included, like any other exception.
    Ctrl-C prints one line and returns 130 (finished batches are kept: rerun to resume).
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="advkit: %(message)s",
    )
    try:
        if launches(args):  # --workers K: K ranks on torch.distributed run the command
            return launch(sys.argv[1:] if argv is None else list(argv), args.workers)
        with rank_session(args):
            args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("advkit: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as err:
        message = None if args.debug else explain(err)
        if message is None:
            raise
        print(f"advkit: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
