"""Black-box attacks on the natural LeNet5 (MNIST test images): ZOO-Adam vs white-box C&W
(success, mean L2, queries, seconds per image) and Square L∞ queries to success.

Usage:
    ADVKIT_SHARED_DATA=/work/shared/data python benchmarks/bench_blackbox.py \\
        --n 10 --zoo-steps 300 --out benchmarks/blackbox.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

import advkit
from advkit.data import load_dataset
from advkit.models import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10, help="MNIST test images")
    ap.add_argument("--zoo-steps", type=int, default=300, help="ZOO iterations per c")
    ap.add_argument("--search-steps", type=int, default=9)
    ap.add_argument("--solvers", default="adam,newton", help="ZOO solvers, comma-separated")
    ap.add_argument("--out", default="benchmarks/blackbox.json")
    args = ap.parse_args()
    shared = Path(os.environ.get("ADVKIT_SHARED_DATA", "../shared/data"))
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=args.n)
    model = load_model("lenet5-natural")
    rows = {}

    def record(name: str, res: advkit.AttackResult, seconds: float) -> None:
        ok = res.success
        rows[name] = {
            "success": float(ok.float().mean()),
            "mean_l2_successful": float(res.distances()["l2"][ok].mean()) if ok.any() else None,
            "mean_queries": float(res.queries.float().mean()),
            "median_queries_successful": float(res.queries[ok].float().median())
            if ok.any()
            else None,
            "seconds_per_image": seconds / len(y),
        }
        print(name, rows[name], flush=True)

    t = time.perf_counter()
    res = advkit.attack(advkit.ScoreOnly(model), x, y, advkit.Linf(0.3), advkit.Square())
    record("square-linf-0.3", res, time.perf_counter() - t)
    t = time.perf_counter()
    cw = advkit.CW(steps=args.zoo_steps, search_steps=args.search_steps)
    res = advkit.attack(model, x, y, advkit.L2(math.inf), cw)
    record("cw-l2", res, time.perf_counter() - t)
    for solver in args.solvers.split(","):
        t = time.perf_counter()
        zoo = advkit.ZOO(solver=solver, steps=args.zoo_steps, search_steps=args.search_steps)
        res = advkit.attack(advkit.ScoreOnly(model), x, y, advkit.L2(math.inf), zoo)
        record(f"zoo-{solver}", res, time.perf_counter() - t)
    meta = {
        "n": args.n,
        "zoo_steps": args.zoo_steps,
        "search_steps": args.search_steps,
        "torch_threads": torch.get_num_threads(),
    }
    Path(args.out).write_text(json.dumps({"meta": meta, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
