"""Reports people look at: one self-contained HTML page per run (``advkit report``).

Example:
    >>> from advkit.report import render_report
    >>> html = render_report("results/evaluation.json")  # doctest: +SKIP
"""

from advkit.report.html import render_report

__all__ = ["render_report"]
