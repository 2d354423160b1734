"""Running a VNN-COMP benchmark folder: ``instances.csv`` in, a results CSV out.

Problem solved: a benchmark is a CSV whose lines are ``onnx,vnnlib,timeout`` with paths
relative to the CSV's folder. :func:`run_instances` verifies every line with a
:class:`~advkit.certify.vnn.Verifier` and writes one results row per instance: the
instance, its ``result`` (``sat``, ``unsat``, ``unknown``, ``timeout`` or ``error`` with
the reason in ``detail``), the deciding ``stage`` and the wall-clock ``seconds``
(loading included). For every ``sat`` the VNN-COMP counterexample file is written beside
the results as ``<results stem>.<line>.counterexample``.

Example:
    >>> from advkit.certify.vnn_instances import read_instances
    >>> read_instances("benchmark/instances.csv")  # doctest: +SKIP
    [Instance(onnx=..., vnnlib=..., timeout=60.0)]
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from advkit.certify.vnn import Verifier, verify_files
from advkit.certify.vnn_result import VnnResult

__all__ = ["COLUMNS", "Instance", "read_instances", "run_instances"]

COLUMNS = ("onnx", "vnnlib", "timeout", "result", "stage", "seconds", "detail")
"""The columns of the results CSV."""


@dataclass(frozen=True)
class Instance:
    """One benchmark line: the network, the property (resolved paths) and the timeout."""

    onnx: Path
    vnnlib: Path
    timeout: float


def read_instances(path: str | Path) -> list[Instance]:
    """The instances of the CSV ``path`` (lines ``onnx,vnnlib,timeout``).

    Raises:
        ValueError: a line is not of that form (line number named).
    """
    p = Path(path)
    out = []
    with p.open(newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            try:
                timeout = float(cells[2]) if len(cells) == 3 else -1.0
            except ValueError:
                timeout = -1.0
            if not timeout > 0:
                raise ValueError(
                    f"{p}:{number}: expected 'model.onnx,property.vnnlib,timeout seconds' "
                    f"(paths relative to the CSV's folder), got {','.join(row)!r}"
                )
            out.append(Instance(p.parent / cells[0], p.parent / cells[1], timeout))
    return out


def _row(inst: Instance, result: VnnResult | None, seconds: float, detail: str) -> list[str]:
    status = result.status if result is not None else "error"
    stage = result.stage if result is not None else ""
    return [str(inst.onnx), str(inst.vnnlib), f"{inst.timeout:g}", status, stage,
            f"{seconds:.3f}", detail]  # fmt: skip


def run_instances(
    path: str | Path, out: str | Path, verifier: Verifier | None = None
) -> list[dict[str, str]]:
    """Verify every instance of the CSV ``path``; write the results CSV ``out``.

    An instance whose files cannot be read or converted is an ``error`` row (its reason in
    ``detail``); the run goes on.

    Returns:
        The results rows as dicts of :data:`COLUMNS`.
    """
    instances = read_instances(path)
    target = Path(out)
    rows = []
    for number, inst in enumerate(instances, start=1):
        start = time.perf_counter()
        result, detail = None, ""
        try:
            result = verify_files(inst.onnx, inst.vnnlib, inst.timeout, verifier)
        except (ValueError, TypeError, OSError) as err:
            detail = str(err).replace("\n", " ")
        rows.append(_row(inst, result, time.perf_counter() - start, detail))
        if result is not None and result.status == "sat":
            cex = target.with_name(f"{target.stem}.{number}.counterexample")
            cex.write_text(result.to_text() + "\n", encoding="utf-8")
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows]
