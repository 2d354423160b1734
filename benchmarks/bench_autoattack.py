"""advkit's ``standard`` suite next to the reference AutoAttack, back to back on the same images.

For each set (model, L∞ ε, first n test images) the reference implementation
(``pyautoattack``, AutoAttack's standard version: APGD-CE, APGD-T, FAB-T, Square 5000, seed 0)
and ``advkit.evaluate(..., suite="standard")`` (default settings, masking checks included)
run one after the other in the same process on one intra-op thread. Recorded per set:
robust accuracy of each, the per-sample agreement table (robust for both / broken by
AutoAttack only / broken by advkit only / broken by both), the indices AutoAttack breaks
and advkit does not, wall and CPU seconds of each and their ratio. Every AutoAttack point
is checked to lie in the ε-ball and [0, 1] before it counts.

The reference is installed only in the benchmark's own venv, never as advkit's dependency:

    python3.11 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.13.0 pyautoattack==0.2.0
    ADVKIT_SHARED_DATA=../shared/data PYTHONPATH=src /tmp/peers/bin/python \\
        benchmarks/bench_autoattack.py --out benchmarks/autoattack.json

``--reference-only --out ref.json`` runs AutoAttack's half alone; ``--reference ref.json``
then runs advkit's half against it (one after the other; compare CPU seconds).

Needs the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from pyautoattack import AutoAttack

import advkit
from advkit.models import load_model, shared_data_dir
from bench_support import shared_data

DEFAULT_SETS = (
    "lenet5-pgd:0.3:500",
    "kw-mnist-0.1:0.1:1000",
    "resnet2b-cifar:2/255:100",
    "resnet2b-cifar:8/255:100",
)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    out = run()
    return out, time.perf_counter() - wall, _cpu_seconds() - cpu


def _reference(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> Any:
    attack = AutoAttack(model, eps=eps, norm="Linf", version="standard", seed=0, device="cpu")
    x_adv, _ = attack.run_standard_evaluation(x, y, batch_size=len(y))
    if (x_adv - x).abs().max() > eps + 1e-6 or x_adv.min() < 0 or x_adv.max() > 1:
        raise SystemExit("AutoAttack returned a point outside the ε-ball or the box")
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).tolist()


def _advkit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> Any:
    ev = advkit.evaluate(
        model, (x, y), advkit.Linf(eps), "standard", batch_size=len(y), progress=False
    )
    return ev


def reference_part(spec: str, shared: Path) -> dict[str, Any]:
    """AutoAttack on the set ``model:eps:n``: per-sample robustness and its cost."""
    name, eps_text, n_text = spec.split(":")
    model, x, y = _problem(name, n_text, shared)
    ref, wall, cpu = _timed(lambda: _reference(model, x, y, float(Fraction(eps_text))))
    return {"robust": ref, "seconds": {"wall": wall, "cpu": cpu}}


def _problem(name: str, n_text: str, shared: Path) -> tuple[torch.nn.Module, Any, Any]:
    model = load_model(name)
    x, y = shared_data(shared, name, int(n_text))
    return model, x, y


def run_set(spec: str, shared: Path, reference: dict[str, Any] | None) -> dict[str, Any]:
    """One set ``model:eps:n``: both evaluations (AutoAttack's taken from ``reference``
    when given), their agreement and their cost."""
    name, eps_text, n_text = spec.split(":")
    eps = float(Fraction(eps_text))
    ref_part = reference if reference is not None else reference_part(spec, shared)
    model, x, y = _problem(name, n_text, shared)
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).tolist()
    ref = ref_part["robust"]
    ref_wall, ref_cpu = ref_part["seconds"]["wall"], ref_part["seconds"]["cpu"]
    ev, adv_wall, adv_cpu = _timed(lambda: _advkit(model, x, y, eps))
    ours = [r.robust for r in sorted(ev.samples[ev.eps], key=lambda r: r.index)]
    only_ref = [i for i, (a, b) in enumerate(zip(ref, ours, strict=True)) if b and not a]
    only_ours = [i for i, (a, b) in enumerate(zip(ref, ours, strict=True)) if a and not b]
    row = {
        "model": name,
        "eps": eps_text,
        "n": len(y),
        "clean_accuracy": sum(clean) / len(y),
        "autoattack_robust_accuracy": sum(ref) / len(y),
        "advkit_robust_accuracy": ev.robust_accuracy,
        "agreement": {
            "robust_for_both": sum(a and b for a, b in zip(ref, ours, strict=True)),
            "broken_by_autoattack_only": len(only_ref),
            "broken_by_advkit_only": len(only_ours),
            "broken_by_both": sum(not a and not b for a, b in zip(ref, ours, strict=True)),
        },
        "broken_by_autoattack_only": only_ref,
        "advkit_broken_by": ev.broken_by(),
        "advkit_gradient_calls": ev.gradient_calls(),
        "advkit_masking_flags": [f.check for f in ev.masking],
        "autoattack_seconds": {"wall": ref_wall, "cpu": ref_cpu},
        "advkit_seconds": {"wall": adv_wall, "cpu": adv_cpu},
        "time_ratio_advkit_over_autoattack": {
            "wall": adv_wall / ref_wall,
            "cpu": adv_cpu / ref_cpu,
        },
    }
    print(json.dumps(row, indent=1), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="model:eps:n")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/autoattack.json")
    parser.add_argument(
        "--reference-only", action="store_true", help="run AutoAttack only, write its part"
    )
    parser.add_argument(
        "--reference", help="AutoAttack's part from an earlier --reference-only run"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("shared data not found: set ADVKIT_SHARED_DATA")
    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "threads": args.threads,
        "torch": torch.__version__,
    }
    if args.reference_only:
        results["reference"] = {}
        for spec in args.sets:
            results["reference"][spec] = reference_part(spec, shared)
            Path(args.out).write_text(json.dumps(results, indent=1))
        return
    earlier = json.loads(Path(args.reference).read_text()) if args.reference else None
    if earlier is not None:
        results["reference_command"] = earlier["command"]
    results["sets"] = []
    for spec in args.sets:
        part = None if earlier is None else earlier["reference"][spec]
        results["sets"].append(run_set(spec, shared, part))
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
