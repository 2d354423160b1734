"""Black-box attacks on a registry model (default the natural LeNet5 on MNIST test images):
ZOO vs white-box C&W (success, mean L2, queries, seconds per image) and Square L∞ queries
to success.

Usage:
    ADVKIT_SHARED_DATA=/work/shared/data python benchmarks/bench_blackbox.py \\
        --n 10 --zoo-steps 300 --out benchmarks/blackbox.json
    ADVKIT_SHARED_DATA=/work/shared/data python benchmarks/bench_blackbox.py \\
        --model kw-fashion-0.1 --dataset fashion-mnist --square-eps 0.1 --n 3
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
    ap.add_argument("--n", type=int, default=10, help="test images (the first n)")
    ap.add_argument("--zoo-steps", type=int, default=300, help="ZOO iterations per c")
    ap.add_argument("--search-steps", type=int, default=9)
    ap.add_argument("--solvers", default="adam,newton", help="ZOO solvers, comma-separated")
    ap.add_argument("--model", default="lenet5-natural", help="registry model")
    ap.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist")
    ap.add_argument("--square-eps", type=float, default=0.3, help="Square's L∞ ε")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", default="benchmarks/blackbox.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shared = Path(os.environ.get("ADVKIT_SHARED_DATA", "../shared/data"))
    x, y = load_dataset(args.dataset, data_dir=shared / "datasets" / args.dataset, limit=args.n)
    model = load_model(args.model)
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
    square_threat = advkit.Linf(args.square_eps)
    res = advkit.attack(advkit.ScoreOnly(model), x, y, square_threat, advkit.Square())
    record(f"square-linf-{args.square_eps}", res, time.perf_counter() - t)
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
        "model": args.model,
        "dataset": args.dataset,
        "n": args.n,
        "zoo_steps": args.zoo_steps,
        "search_steps": args.search_steps,
        "torch_threads": torch.get_num_threads(),
    }
    Path(args.out).write_text(json.dumps({"meta": meta, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
