"""Universal perturbations: held-out fooling rate vs L∞ ε on natural and PGD-trained LeNet5.

One δ per ε is built with :class:`~advkit.evaluate.universal.UniversalPerturbation`
(DeepFool inner step, its defaults) on the first ``--train-n`` MNIST test images and
measured on the next ``--n``; the PGD-trained model must be fooled far less.

Usage:
    ADVKIT_SHARED_DATA=/work/shared/data python benchmarks/bench_universal.py \\
        --out benchmarks/universal.json

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
from advkit.data import load_dataset
from advkit.evaluate.universal import UniversalPerturbation
from advkit.models import load_model, shared_data_dir


def _row(model: Any, name: str, eps: float, train: Any, held: Any) -> dict[str, Any]:
    start = time.perf_counter()
    uap = UniversalPerturbation(advkit.Linf(eps)).fit(model, train[0])
    rate = uap.fooling(model, *held)
    row = {
        "model": name,
        "eps": eps,
        "train_rate": max(uap.train_rates),
        **rate.to_dict(),
        "gradient_calls": uap.gradient_calls,
        "seconds": time.perf_counter() - start,
    }
    print(
        f"{name:14s} eps={eps:.1f}  held-out fooling {100 * rate.fooling_rate:5.1f}%  "
        f"train {100 * row['train_rate']:5.1f}%  {row['seconds']:.0f}s",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-n", type=int, default=300)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--eps", default="0.1,0.2,0.3")
    parser.add_argument("--out", default="benchmarks/universal.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = load_dataset(
        "mnist", data_dir=shared_data_dir() / "datasets" / "mnist", limit=args.train_n + args.n
    )
    train, held = (x[: args.train_n], y[: args.train_n]), (x[args.train_n :], y[args.train_n :])
    rows = [
        _row(load_model(name).eval(), name, float(eps), train, held)
        for name in ("lenet5-natural", "lenet5-pgd")
        for eps in args.eps.split(",")
    ]
    setup = {"train": f"MNIST test[:{args.train_n}]", "held_out": f"next {args.n}"}
    result = {"setup": {**setup, "threads": 1}, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
