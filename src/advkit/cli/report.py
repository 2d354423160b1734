"""``advkit report``: one self-contained HTML page of a run's results.

The page (:mod:`advkit.report`) of evaluate results shows the run, clean and robust
accuracy, the accuracy-vs-ε curve (with the certified band), who broke what, the
distortion, the gradient-masking flags and a gallery of broken samples; it needs no
network and no script. ``advkit evaluate --report`` writes it beside the results at the
end of the run. The results of ``advkit certify``, ``advkit train``, ``advkit detect``
and ``advkit transfer`` get their own pages (:data:`advkit.report.html.KINDS`).

Example:
    advkit report results/evaluation.json                 # -> results/evaluation.html
    advkit report results/evaluation.json --out /tmp/r.html
    advkit report results/model.json                      # the curves of advkit train
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advkit.cli.errors import UsageError
from advkit.cli.outputs import Output, atomic_write, check_outputs
from advkit.evaluate.figures import pyplot
from advkit.report.html import REPORT_SUFFIXES, render_report

__all__ = ["register", "report_output", "run", "write_report"]


def register(sub: Any) -> None:
    """Add the ``report`` subcommand to the subparsers ``sub``."""
    rep = sub.add_parser("report", help="one self-contained HTML page of a results JSON")
    rep.add_argument(
        "target",
        metavar="RESULTS.json",
        help="results of advkit evaluate, certify, train, detect or transfer",
    )
    rep.add_argument("--out", help="the HTML file (default: RESULTS with .html)")
    rep.add_argument("--quiet", action="store_true", help="do not print the report's path")
    rep.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Check the paths and matplotlib, render the report, write it and print its path."""
    target = Path(args.target)
    if target.suffix != ".json":
        raise UsageError(
            f"advkit report takes RESULTS.json, the results file an advkit command wrote "
            f"(e.g. advkit report results/evaluation.json); got {target}"
        )
    out = report_output(Path(args.out) if args.out else target.with_suffix(".html"))
    check_outputs([out], {"RESULTS.json": target})
    pyplot("advkit report")
    path = write_report(target, out.path)
    if not args.quiet:
        print(f"report written to {path}")
    return {"report": str(path)}


def report_output(path: Path, option: str = "--out") -> Output:
    """The report file ``path`` as an output of the command (option ``option``)."""
    return Output(option, path, "HTML report", REPORT_SUFFIXES)


def write_report(results: Path, out: Path) -> Path:
    """Render the report of the results file ``results`` and write it atomically to
    ``out``; returns ``out``."""
    html = render_report(results)
    return atomic_write(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
