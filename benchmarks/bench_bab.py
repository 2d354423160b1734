"""Branch and bound against α-CROWN and exact MIP on the registry's MNIST MLPs.

For ``toy-mnist-2-20`` (784-20-10) and ``fc-3layer`` (784-128-64-10) at L∞ ε = 0.02 and
0.05, on the first ``--n`` correctly classified MNIST test images: per method, samples
certified, samples falsified (a counterexample re-checked by a forward pass), unknown,
solved = certified + falsified, and seconds per sample. α-CROWN only certifies; MIP and
BaB get the same per-sample time limit.

Usage:
    python benchmarks/bench_bab.py --n 10 --time-limit 5 --out benchmarks/bab.json

Needs the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import advkit
from advkit.certify import MIP, AlphaCROWN, BaB
from advkit.data import load_dataset
from advkit.models import load_model, shared_data_dir

MODELS = ("toy-mnist-2-20", "fc-3layer")
EPS = (0.02, 0.05)


def _row(model: Any, x: Any, y: Any, eps: float, method: Any) -> dict[str, Any]:
    start = time.perf_counter()
    res = advkit.certify(model, x, y, advkit.Linf(eps), method, batch_size=len(y))
    seconds = time.perf_counter() - start
    status = res.status()
    return {
        "method": method.name,
        "certified": status.count("certified"),
        "falsified": status.count("attacked"),
        "unknown": status.count("unknown"),
        "solved": status.count("certified") + status.count("attacked"),
        "seconds_per_sample": round(seconds / len(y), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="samples per model")
    parser.add_argument("--time-limit", type=float, default=5.0, help="MIP/BaB s/sample")
    parser.add_argument("--out", default="benchmarks/bab.json")
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None:
        raise SystemExit("needs the shared data folder: set ADVKIT_SHARED_DATA or ../shared/data")
    mnist = root / "datasets" / "mnist"
    x_all, y_all = load_dataset("mnist", "test", mnist, download=False, limit=4 * args.n)
    methods = (AlphaCROWN(), MIP(time_limit=args.time_limit), BaB(time_limit=args.time_limit))
    rows = []
    for name in MODELS:
        model = load_model(name).eval()
        with torch.no_grad():
            right = (model(x_all).argmax(1) == y_all).nonzero().flatten()[: args.n]
        x, y = x_all[right], y_all[right]
        for eps in EPS:
            for method in methods:
                row = {"model": name, "eps": eps, "n": len(y), **_row(model, x, y, eps, method)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    Path(args.out).write_text(json.dumps({"time_limit": args.time_limit, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
