"""``advkit evaluate --format``: the files an evaluation is written in, beside its results.

Formats (``--format robustbench,csv`` or ``--format robustbench --format csv``):

- ``json`` (the default): advkit's results, the ``--out`` file. It is always written:
  resuming, re-checking and every other format start from it.
- ``robustbench``: a RobustBench ``model_info`` entry, ``<out>.robustbench.json``
  (:mod:`advkit.evaluate.robustbench_info`); L∞ and L2 threats only.
- ``csv``: the per-sample records for spreadsheets, one row per sample, ``<out>.csv``
  (:mod:`advkit.evaluate.samples_csv`).

Both exports need a suite evaluation (``--minimal`` has no per-sample records). Their
paths are checked with the other outputs before any work and written atomically
(:mod:`advkit.cli.outputs`).

Example:
    >>> import argparse
    >>> from advkit.cli.formats import format_outputs, formats
    >>> formats("json,csv")
    ['json', 'csv']
    >>> args = argparse.Namespace(out="r/run.json", format=["csv"], minimal=None, norm="linf")
    >>> [str(o.path) for o in format_outputs(args).values()]
    ['r/run.csv']
"""

from __future__ import annotations

import argparse
from pathlib import Path

from advkit.cli.errors import UsageError
from advkit.cli.json_text import write_json
from advkit.cli.outputs import Output, atomic_write
from advkit.evaluate.report import Evaluation
from advkit.evaluate.robustbench_info import THREAT_MODELS, robustbench_info
from advkit.evaluate.samples_csv import samples_csv

__all__ = ["FORMATS", "add_format", "format_outputs", "formats", "write_formats"]

FORMATS = ("json", "robustbench", "csv")
"""The formats ``advkit evaluate --format`` writes; ``json`` is always among them."""


def formats(text: str) -> list[str]:
    """Parse ``"robustbench,csv"`` into ``["robustbench", "csv"]`` (an argparse type)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown format {unknown[0] if unknown else text!r}; choose from "
            f"{', '.join(FORMATS)} (comma-separated or repeated)"
        )
    return names


def add_format(p: argparse.ArgumentParser) -> None:
    """The ``--format`` option (repeatable, comma-separated) on the parser ``p``."""
    p.add_argument(
        "--format",
        type=formats,
        action="extend",
        metavar="FORMAT[,FORMAT]",
        help="also write the results as: robustbench (a RobustBench model_info JSON, "
        "<out>.robustbench.json), csv (per-sample records, <out>.csv); json, the --out "
        "file, is always written",
    )


def format_outputs(args: argparse.Namespace) -> dict[str, Output]:
    """The files the ``--format`` options add, by format; refuses bad combinations.

    Raises:
        UsageError: an export with ``--minimal``, or ``robustbench`` with a norm that has
            no RobustBench leaderboard.
    """
    out = Path(args.out)
    wanted = [name for name in dict.fromkeys(args.format or []) if name != "json"]
    if wanted and args.minimal:
        raise UsageError(
            f"--format {','.join(wanted)} exports the per-sample records of a suite "
            f"evaluation, and --minimal runs one minimal-distortion attack: drop --minimal "
            "(choose a --suite) or drop the --format"
        )
    if "robustbench" in wanted and args.norm not in THREAT_MODELS:
        raise UsageError(
            f"--format robustbench: RobustBench ranks Linf and L2 threat models only, not "
            f"--norm {args.norm}; use --norm linf or --norm l2, or drop robustbench from --format"
        )
    paths = {
        "robustbench": (out.with_name(f"{out.stem}.robustbench.json"), "RobustBench model_info"),
        "csv": (out.with_suffix(".csv"), "per-sample CSV"),
    }
    return {name: Output("--out", *paths[name]) for name in wanted}


def write_formats(args: argparse.Namespace, files: dict[str, Output], ev: Evaluation) -> list[Path]:
    """Write the ``--format`` exports of ``ev`` to their paths in ``files``; return them."""
    written = []
    if "robustbench" in files:
        dataset = str(ev.info.get("dataset", "")).partition("/")[0] or None
        info = robustbench_info(ev, args.norm, dataset=dataset, suite=args.suite)
        written.append(write_json(files["robustbench"].path, info))
    if "csv" in files:
        text = samples_csv(ev)
        written.append(atomic_write(files["csv"].path, lambda tmp: tmp.write_text(text)))
    return written
