"""An evaluation's per-sample records as CSV, one row per sample: :func:`samples_csv`.

Problem solved: the JSON results nest the records per ε, which a spreadsheet cannot
open. The CSV has a header and one row per sample: ``index``, ``label``, ``clean_pred``,
then for every ε in increasing order the fields of its
:class:`~advkit.evaluate.records.SampleRecord` named ``field@ε`` (``robust@0.1``,
``broken_by@0.1``, ``distance@0.1``, ``queries@0.1``, ``gradient_calls@0.1``), ε written as
in the JSON's ``samples`` keys. ``robust`` is ``true``/``false``; ``broken_by`` and
``distance`` are empty for a robust sample; numbers are written exactly (``float()``
reads a distance back to the same value). An evaluation with estimates has the columns
``clever`` and ``margin_radius`` after ``clean_pred`` (the same at every ε).

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.samples_csv import samples_csv
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(5, 1, 8, 8), torch.randint(0, 10, (5,))
    >>> ev = advkit.evaluate(net, (x, y), advkit.Linf(0.1), "fast", progress=False)
    >>> text = samples_csv(ev)
    >>> text.splitlines()[0]
    'index,label,clean_pred,robust@0.1,broken_by@0.1,distance@0.1,queries@0.1,gradient_calls@0.1'
    >>> len(text.splitlines())
    6
"""

from __future__ import annotations

import csv
import io
from dataclasses import fields

from advkit.evaluate.records import ESTIMATES, SampleRecord
from advkit.evaluate.report import Evaluation

__all__ = ["SAMPLE_COLUMNS", "samples_csv"]

SAMPLE_COLUMNS = ("index", "label", "clean_pred")
"""The columns that are the same at every ε; every other field gets one column per ε."""

_PER_EPS = tuple(
    f.name for f in fields(SampleRecord) if f.name not in (*SAMPLE_COLUMNS, *ESTIMATES)
)


def samples_csv(ev: Evaluation) -> str:
    """The per-sample records of ``ev`` as CSV text (header, then one row per sample)."""
    eps = sorted(ev.samples)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    estimated = any(r.clever is not None for r in ev.samples[eps[0]])
    same = (*SAMPLE_COLUMNS, *ESTIMATES) if estimated else SAMPLE_COLUMNS
    writer.writerow([*same, *(f"{name}@{e}" for e in eps for name in _PER_EPS)])
    for records in zip(*(ev.samples[e] for e in eps), strict=True):
        first = records[0].to_dict()
        row = [_cell(first[name]) for name in same]
        row += [_cell(record.to_dict()[name]) for record in records for name in _PER_EPS]
        writer.writerow(row)
    return out.getvalue()


def _cell(value: object) -> str:
    """One value as a CSV cell: booleans lowercase, None empty, floats exact."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)
