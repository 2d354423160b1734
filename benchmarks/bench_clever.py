"""CLEVER vs minimal-attack distance vs CROWN certified radius (L∞) on KW MNIST.

On Wong & Kolter's certified MNIST model (``kw-mnist-0.1``), for the first ``--n`` test
images it measures, per correctly classified image:

- the CLEVER score (:class:`~advkit.evaluate.clever.Clever`, L∞, sampling radius
  ``--radius``; the settings of ``advkit evaluate --estimates``: 10 batches of 50) —
  an *estimate* of the minimal distance, never a certificate;
- the L∞ distance DeepFool and PGD-min (bisection on ε) find: an upper bound;
- the CROWN certified radius, by bisection on a per-sample ε: a lower bound;

and the seconds each costs. A sound picture is CROWN ≤ true distance ≤ attack; CLEVER
above the attack's distance is its known failure.

Usage:
    ADVKIT_SHARED_DATA=/work/shared/data python benchmarks/bench_clever.py --n 100 \\
        --out benchmarks/clever.json

Needs the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import advkit
from advkit.attacks.catalog import make_attack
from advkit.certify import CROWN
from advkit.data import load_dataset
from advkit.evaluate.clever import Clever
from advkit.evaluate.estimates import CLEVER_BATCH_SIZE, CLEVER_BATCHES
from advkit.models import load_model, shared_data_dir


def _timed(fn: Callable[[], Tensor]) -> tuple[Tensor, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _attack_distance(model: Any, x: Tensor, y: Tensor, name: str) -> Tensor:
    res = advkit.attack(model, x, y, advkit.Linf(1.0), make_attack(name))
    return torch.where(res.success, res.distance.double(), torch.tensor(float("inf")))


def _crown_radius(model: Any, x: Tensor, y: Tensor, top: float, steps: int) -> Tensor:
    """The largest ε certified by CROWN, per sample, by bisection on [0, top]."""
    lo, hi = torch.zeros(len(x), dtype=torch.float64), torch.full((len(x),), top).double()
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = advkit.certify(model, x, y, advkit.Linf(mid.float()), CROWN(), batch_size=50)
        lo, hi = torch.where(ok.certified, mid, lo), torch.where(ok.certified, hi, mid)
    return lo


def _stats(values: Tensor) -> dict[str, float]:
    finite = values[values.isfinite()]
    return {"median": float(finite.median()), "mean": float(finite.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--radius", type=float, default=0.3, help="CLEVER's sampling radius")
    parser.add_argument("--out", default="benchmarks/clever.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = shared_data_dir()
    if data is None:
        raise SystemExit("set ADVKIT_SHARED_DATA to the shared data folder")
    x, y = load_dataset("mnist", data_dir=data / "datasets" / "mnist", limit=args.n)
    model = load_model("kw-mnist-0.1").eval()
    with torch.no_grad():
        right = model(x).argmax(1) == y
    x, y = x[right], y[right]
    clever = Clever(advkit.Linf(args.radius), CLEVER_BATCHES, CLEVER_BATCH_SIZE)
    score, t_clever = _timed(lambda: clever.estimate(model, x, y).score)
    deepfool, t_df = _timed(lambda: _attack_distance(model, x, y, "deepfool"))
    pgd_min, t_pgd = _timed(lambda: _attack_distance(model, x, y, "pgd-min"))
    crown, t_crown = _timed(lambda: _crown_radius(model, x, y, args.radius, 12))
    attack = torch.minimum(deepfool, pgd_min)
    n = len(x)
    result = {
        "setup": {
            "model": "kw-mnist-0.1",
            "images": args.n,
            "correct": n,
            "norm": "linf",
            "clever": {
                "radius": args.radius,
                "batches": CLEVER_BATCHES,
                "batch_size": CLEVER_BATCH_SIZE,
            },
            "crown_bisection_steps": 12,
            "threads": 1,
        },
        "clever": {**_stats(score), "seconds_per_image": t_clever / n},
        "deepfool": {**_stats(deepfool), "seconds_per_image": t_df / n},
        "pgd_min": {**_stats(pgd_min), "seconds_per_image": t_pgd / n},
        "crown_radius": {**_stats(crown), "seconds_per_image": t_crown / n},
        "crown_le_attack": int((crown <= attack + 1e-6).sum()),
        "clever_above_attack": int((score > attack).sum()),
        "clever_below_crown": int((score < crown).sum()),
        "samples": [
            {"clever": c, "deepfool": d, "pgd_min": p, "crown": r}
            for c, d, p, r in zip(
                score.tolist(), deepfool.tolist(), pgd_min.tolist(), crown.tolist(), strict=True
            )
        ],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for key in ("clever", "deepfool", "pgd_min", "crown_radius"):
        print(key, result[key])
    print({k: result[k] for k in ("crown_le_attack", "clever_above_attack", "clever_below_crown")})
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
