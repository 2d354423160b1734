"""Robust accuracy at L1 under advkit's ``standard`` suite, and the reference's L1 APGD.

On the first n MNIST test images (shared folder) with a registry model at L1 ε, one
intra-op thread:

- ``--part advkit``: ``advkit.evaluate(..., suite="standard")`` (the whole L1 cascade:
  APGD-CE, APGD-T, FAB-T) with the advkit found on the path, and the robust accuracy
  after each attack of the cascade (run it with another checkout's ``src`` first on
  ``PYTHONPATH`` to compare);
- ``--part reference``: ``pyautoattack``'s APGD-CE then APGD-T with AutoAttack's L1
  standard settings (5 restarts, 5 target classes, ``use_largereps``, seed 0); every
  point is checked to lie in the ε ball and [0, 1] before it counts.

    OMP_NUM_THREADS=1 ADVKIT_SHARED_DATA=/work/shared/data PYTHONPATH=src \\
        python benchmarks/bench_l1_apgd.py --part advkit --n 100 --eps 10

Needs the shared data folder; the reference part needs ``pyautoattack`` (its own venv).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

import advkit
from advkit.evaluate.suites import get_suite
from advkit.models import load_model, shared_data_dir
from bench_support import shared_data


def advkit_part(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> Any:
    """advkit's standard suite at L1: robust accuracy after each attack of the cascade."""
    start = time.perf_counter()
    report = advkit.evaluate(model, (x, y), advkit.L1(eps), "standard", progress=False)
    seconds = time.perf_counter() - start
    broken_by = Counter(rec.broken_by for rec in report.samples[report.eps])
    broken_by.pop(None, None)
    left, after = report.n, {}
    for name in ["clean", *report.suite]:
        left -= broken_by.pop(name, 0)
        after[name] = left / report.n
    return {
        "suite": [f"{name}={attack!r}" for name, attack in get_suite("standard", "l1")],
        "robust_accuracy_after": after,
        "broken_by_other": dict(broken_by),
        "robust_accuracy": report.robust_accuracy,
        "seconds": seconds,
    }


def reference_part(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> Any:
    """pyautoattack's APGD-CE → APGD-T with AutoAttack's L1 standard settings."""
    from pyautoattack import AutoAttack

    attacks: Any = ["apgd-ce", "apgd-t"]
    aa = AutoAttack(model, attacks=attacks, norm="L1", eps=eps, seed=0, version="custom")
    aa.verbose = False
    aa.apgd.use_largereps = aa.apgd_targeted.use_largereps = True
    aa.apgd.n_restarts, aa.apgd_targeted.n_target_classes = 5, 5
    start = time.perf_counter()
    adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(x))
    seconds = time.perf_counter() - start
    inside = (adv - x).abs().flatten(1).sum(1) <= eps * (1 + 1e-5)
    inside &= ((adv >= 0) & (adv <= 1)).flatten(1).all(1)
    with torch.no_grad():
        broken = (model(adv).argmax(1) != y) & inside
    clean = model(x).argmax(1) != y
    return {
        "reference apgd-ce+apgd-t": {
            "robust_accuracy": 1.0 - float((broken | clean).float().mean()),
            "outside_ball": int((~inside).sum()),
            "seconds": seconds,
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["advkit", "reference"], default="advkit")
    parser.add_argument("--model", default="lenet5-pgd")
    parser.add_argument("--eps", type=float, default=10.0)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model).eval()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("no shared data folder: set ADVKIT_SHARED_DATA to it")
    x, y = shared_data(shared, args.model, args.n)
    run = advkit_part if args.part == "advkit" else reference_part
    out = {"model": args.model, "eps": args.eps, "n": args.n, **run(model, x, y, args.eps)}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
