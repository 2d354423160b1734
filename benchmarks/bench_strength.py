"""Attack strength on published checkpoints: robust accuracy by attack, with work spent.

Reproduces the honesty checks of the test suite at benchmark scale and records numbers:

- LeNet5 (natural) and LeNet5 (PGD-trained), MNIST, L∞ ε = 0.3: FGSM, PGD-50 (1 restart)
  and the ``standard`` suite, with gradient calls against the nominal budget;
- Wong & Kolter's certified MNIST model at L∞ ε = 0.1 (published certified accuracy
  94.2%): robust accuracy under the ``fast`` and ``standard`` suites must stay above it.

Usage:
    python benchmarks/bench_strength.py --n 1000 --kw-n 10000 --out benchmarks/strength.json

Needs the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

import advkit
from advkit.data import load_dataset
from advkit.models import load_model, shared_data_dir


def _robust(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, method: Any) -> dict:
    start = time.perf_counter()
    correct = model(x).argmax(1) == y
    parts = [
        advkit.attack(model, x[i : i + 256], y[i : i + 256], advkit.Linf(0.3), method)
        for i in range(0, len(y), 256)
    ]
    success = torch.cat([p.success for p in parts])
    return {
        "robust_accuracy": float((correct & ~success).float().mean()),
        "gradient_calls": int(sum(int(p.gradient_calls.sum()) for p in parts)),
        "seconds": time.perf_counter() - start,
    }


def _suite(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, suite: str
) -> dict:
    ev = advkit.evaluate(model, (x, y), advkit.Linf(eps), suite, batch_size=500, progress=True)
    return {
        "clean_accuracy": ev.clean_accuracy,
        "robust_accuracy": ev.robust_accuracy,
        "gradient_calls": ev.gradient_calls(),
        "broken_by": ev.broken_by(),
        "seconds": ev.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="MNIST images for the LeNet5s")
    parser.add_argument("--kw-n", type=int, default=10000, help="images for the KW model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/strength.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("shared data not found: set ADVKIT_SHARED_DATA")
    mnist = shared / "datasets" / "mnist"
    results: dict[str, Any] = {"command": " ".join(["python", *sys.argv])}
    x, y = load_dataset("mnist", data_dir=mnist, limit=args.n)
    for name in ("lenet5-natural", "lenet5-pgd"):
        model = load_model(name)
        nominal = (101 + 9 * 101) * len(y)
        row = {
            "fgsm": _robust(model, x, y, advkit.FGM()),
            "pgd50": _robust(model, x, y, advkit.PGD(steps=50, restarts=1)),
            "standard": _suite(model, x, y, 0.3, "standard"),
            "standard_nominal_gradient_calls": nominal,
        }
        results[f"{name} eps=0.3 n={len(y)}"] = row
        print(name, json.dumps(row, indent=1))
    xk, yk = load_dataset("mnist", data_dir=mnist, limit=args.kw_n)
    kw = load_model("kw-mnist-0.1")
    for suite in ("fast", "standard"):
        row = _suite(kw, xk, yk, 0.1, suite)
        results[f"kw-mnist-0.1 eps=0.1 n={len(yk)} {suite}"] = row
        print("kw", suite, json.dumps(row, indent=1))
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
