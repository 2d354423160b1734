"""``advkit leaderboard``: one table across runs, as HTML, Markdown or CSV.

Runs are ranked only within their comparison group (same data, norm, ε and suite, or
the same certifier; :mod:`advkit.report.leaderboard`), and every row shows its group.

Example:
    advkit leaderboard results/                       # Markdown on the terminal
    advkit leaderboard results/ --out board.html      # sortable HTML page
    advkit leaderboard a.json b.json --format csv --out board.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advkit.cli.errors import UsageError
from advkit.cli.outputs import Output, atomic_write, check_outputs
from advkit.report.html import render_leaderboard
from advkit.report.leaderboard import collect, groups_of, ranked
from advkit.report.leaderboard_text import csv_text, markdown

__all__ = ["FORMATS", "register", "run"]

FORMATS = {"md": (".md",), "csv": (".csv",), "html": (".html", ".htm")}
"""The formats and the file endings each accepts."""


def register(sub: Any) -> None:
    """Add the ``leaderboard`` subcommand to the subparsers ``sub``."""
    lb = sub.add_parser("leaderboard", help="one table across runs (HTML, Markdown, CSV)")
    lb.add_argument(
        "targets",
        nargs="+",
        metavar="STORE_OR_RESULTS",
        help="results JSON files, folders holding them, or per-sample stores (.sqlite)",
    )
    lb.add_argument("--format", choices=sorted(FORMATS), help="default: from --out, else md")
    lb.add_argument("--out", help="write the table here instead of printing it")
    lb.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Collect the runs, rank them within their groups, write or print the table."""
    out = Path(args.out) if args.out else None
    form = args.format or _format_of(out)
    if out is not None:
        check_outputs([Output("--out", out, f"{form} leaderboard", FORMATS[form])])
    missing = [t for t in args.targets if not Path(t).exists()]
    if missing:
        raise UsageError(f"{', '.join(missing)}: no such file or folder; give results JSON "
                         "files, folders holding them, or per-sample stores")  # fmt: skip
    entries, notes = collect([Path(t) for t in args.targets])
    rows = ranked(entries)
    if form == "html":
        text = render_leaderboard(rows, notes)
    else:
        text = csv_text(rows) if form == "csv" else markdown(rows, groups_of(rows))
    if out is None:
        print(text, end="")
    else:
        atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        print(f"leaderboard of {len(rows)} runs written to {out}")
    return {"runs": len(rows), "notes": notes}


def _format_of(out: Path | None) -> str:
    """The format an ``--out`` file's ending names; Markdown without one."""
    if out is None:
        return "md"
    for form, suffixes in FORMATS.items():
        if out.suffix.lower() in suffixes:
            return form
    raise UsageError(f"--out {out}: end it in .md, .csv or .html, or give --format")
