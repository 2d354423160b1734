"""A VNN-COMP-style folder from registry models, verified by advkit's stage lists.

Writes (:mod:`advkit.certify.vnn_export`) the ONNX networks and L∞ robustness properties
of the first ``--n`` correctly classified test images for: the MNIST MLPs
``toy-mnist-2-20`` and ``fc-3layer`` at ε 0.02 and 0.05, ERAN's ``eran-mnist-convsmall``
at ε 0.02, and the CIFAR-10 ``resnet2b-cifar`` at 2/255; then runs every instance
through ``advkit verify``'s verifier with each stage list of ``--configs``:

- ``alpha-crown``: attack (PGD on the property's margin), then α-CROWN;
- ``mip``: attack, then exact MIP (networks with ≤ 400 unstable ReLUs);
- ``bab``: attack, α-CROWN, branch and bound, MIP (what ``advkit verify`` runs).

It reports, per family and stage list, how many instances were answered ``sat``,
``unsat`` and left ``unknown``/``timeout``, and the seconds spent; any two stage lists that
answer the same instance differently (``sat`` against ``unsat``) are a wrong answer and
are listed.

Usage:
    ADVKIT_SHARED_DATA=../shared/data PYTHONPATH=src python benchmarks/bench_vnncomp.py \\
        --n 5 --timeout 30 --out benchmarks/vnncomp.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from advkit.certify.vnn import DEFAULT_STAGES, Verifier, verify_files
from advkit.certify.vnn_export import write_instances
from advkit.certify.vnn_instances import read_instances
from advkit.certify.vnn_stages import AttackStage, BoundStage, MipStage, Stage
from advkit.models import load_model, shared_data_dir
from bench_support import shared_data

FAMILIES = (
    ("toy-mnist-2-20", (0.02, 0.05)),
    ("fc-3layer", (0.02, 0.05)),
    ("eran-mnist-convsmall", (0.02,)),
    ("resnet2b-cifar", (2 / 255,)),
)


def stage_lists() -> dict[str, tuple[Stage, ...]]:
    """The stage lists compared, by name."""
    return {
        "alpha-crown": (AttackStage(), BoundStage()),
        "mip": (AttackStage(), MipStage()),
        "bab": DEFAULT_STAGES,
    }


def write_folder(folder: Path, shared: Path, n: int, timeout: float) -> list[str]:
    """The benchmark folder: networks, properties and instances.csv; its families."""
    lines, families = [], []
    for name, eps_values in FAMILIES:
        model = load_model(name).eval()
        x, y = shared_data(shared, name, 4 * n)
        with torch.no_grad():
            right = model(x).argmax(1) == y
        x, y = x[right][:n], y[right][:n]
        lines += write_instances(model, name, x, y, eps_values, folder, timeout)
        families += [f"{name} ε={e:.4g}" for e in eps_values for _ in range(len(x))]
    (folder / "instances.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return families


def run(folder: Path, families: list[str], configs: list[str]) -> dict[str, Any]:
    """Verify every instance with every stage list; the counts, times and disagreements."""
    lists = stage_lists()
    instances = read_instances(folder / "instances.csv")
    answers: dict[str, list[str]] = {}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for config in configs:
        verifier = Verifier(lists[config])
        answers[config] = []
        for inst, family in zip(instances, families, strict=True):
            start = time.perf_counter()
            status = verify_files(inst.onnx, inst.vnnlib, inst.timeout, verifier).status
            seconds = time.perf_counter() - start
            answers[config].append(status)
            cell = table.setdefault(family, {}).setdefault(
                config, {"sat": 0, "unsat": 0, "unknown": 0, "seconds": 0.0}
            )
            cell["unknown" if status in ("unknown", "timeout") else status] += 1
            cell["seconds"] += seconds
            print(f"{config:12s} {inst.vnnlib.name:40s} {status:8s} {seconds:6.1f}s", flush=True)
    wrong = [
        {"instance": inst.vnnlib.name, "answers": {c: answers[c][i] for c in configs}}
        for i, inst in enumerate(instances)
        if {"sat", "unsat"} <= {answers[c][i] for c in configs}
    ]
    return {"table": table, "disagreements": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="images per model and ε")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--configs", default=",".join(stage_lists()))
    parser.add_argument("--out", default="benchmarks/vnncomp.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("set ADVKIT_SHARED_DATA to the shared data folder")
    with tempfile.TemporaryDirectory() as tmp:
        families = write_folder(Path(tmp), shared, args.n, args.timeout)
        result = run(Path(tmp), families, args.configs.split(","))
    result["setup"] = {"n": args.n, "timeout": args.timeout, "threads": 1}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for family, cells in result["table"].items():
        for config, c in cells.items():
            print(f"{family:28s} {config:12s} sat {c['sat']:3.0f} unsat {c['unsat']:3.0f} "
                  f"unknown {c['unknown']:3.0f} {c['seconds']:8.1f}s")  # fmt: skip
    print(f"disagreements: {len(result['disagreements'])}; written to {args.out}")


if __name__ == "__main__":
    main()
