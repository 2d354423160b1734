"""α-CROWN against CROWN: certified counts and mean margin bounds, with and without the
optimized intermediate bounds.

For a registry model, the first n MNIST test images it classifies correctly and each L∞ ε,
records per method (CROWN, ``AlphaCROWN(intermediate=False)`` = the final pass only,
``AlphaCROWN()``) the number certified, the mean lower bound of the margin and the wall
seconds, on one intra-op thread:

    ADVKIT_SHARED_DATA=../shared/data PYTHONPATH=src python benchmarks/bench_alpha_crown.py \\
        --model fc-3layer --eps 0.03 0.04 --n 100 --out benchmarks/alpha_crown.json

Needs the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

import advkit
from advkit.data import load_dataset
from advkit.models import load_model


def _shared() -> Path:
    env = os.environ.get("ADVKIT_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (path / "README.md").is_file():
        raise SystemExit("shared data folder absent: set ADVKIT_SHARED_DATA")
    return path


def run(model_name: str, eps_list: list[float], n: int) -> list[dict[str, Any]]:
    """One record per (ε, method)."""
    torch.set_num_threads(1)
    x, y = load_dataset("mnist", data_dir=_shared() / "datasets" / "mnist", limit=n)
    model = load_model(model_name).eval()
    with torch.no_grad():
        keep = model(x).argmax(1) == y
    x, y = x[keep], y[keep]
    methods = {
        "crown": advkit.CROWN(),
        "alpha-crown final pass only": advkit.AlphaCROWN(intermediate=False),
        "alpha-crown": advkit.AlphaCROWN(),
    }
    rows = []
    for eps in eps_list:
        for label, method in methods.items():
            start = time.perf_counter()
            res = advkit.certify(model, x, y, advkit.Linf(eps), method)
            rows.append(
                {
                    "model": model_name,
                    "eps": eps,
                    "method": label,
                    "samples": len(y),
                    "certified": int(res.certified.sum()),
                    "mean_lower": round(float(res.lower.mean()), 4),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fc-3layer")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.03, 0.04])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = run(args.model, args.eps, args.n)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
