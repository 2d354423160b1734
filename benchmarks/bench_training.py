"""Robust training on Fashion-MNIST: clean/robust accuracy and cost per epoch by method.

Trains advkit's KW-small CNN with each training method at L∞ ε = 0.1 on (a prefix of) the
Fashion-MNIST training set, evaluates clean accuracy and robust accuracy under the
``standard`` suite on the first test images, and reports each method's seconds per epoch
relative to standard training measured in the same run. Also draws the accuracy /
robustness trade-off plot.

Example:
    python benchmarks/bench_training.py --train-n 6000 --epochs 3 --test-n 300 \\
        --out benchmarks/training.json --plot benchmarks/training.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

import advkit
from advkit.data import load_dataset
from advkit.models.architectures import kw_small


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = Path(os.environ.get("ADVKIT_SHARED_DATA", "../shared/data"))
    p.add_argument("--data-dir", default=str(default_dir / "datasets" / "fashion-mnist"))
    p.add_argument("--train-n", type=int, default=6000)
    p.add_argument("--test-n", type=int, default=300)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--methods", default="standard,fgsm,fast,pgd,trades")
    p.add_argument("--out", default="benchmarks/training.json")
    p.add_argument("--plot", default="benchmarks/training.png")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x, y = load_dataset("fashion-mnist", split="train", data_dir=args.data_dir, limit=args.train_n)
    xt, yt = load_dataset("fashion-mnist", split="test", data_dir=args.data_dir, limit=args.test_n)
    threat = advkit.Linf(args.eps)
    methods: dict[str, Any] = {
        "standard": advkit.Standard(),
        "fgsm": advkit.FGSMTraining(),
        "fast": advkit.FastFGSM(),
        "pgd": advkit.PGDTraining(steps=7),
        "trades": advkit.TRADES(steps=7),
        "gradnorm": advkit.GradientNorm(),
        "distill": advkit.Distillation(temperature=20.0),  # the teacher; student below
        "ensemble": None,  # built from the standard model once it is trained
    }
    trained: dict[str, nn.Module] = {}

    def fit(method: Any) -> tuple[nn.Module, list[dict[str, Any]]]:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = kw_small(1, 28)
        hist = advkit.train(
            model,
            (x, y),
            method,
            threat,
            epochs=args.epochs,
            batch_size=128,
            lr=1e-3,
            progress=False,
        )
        return model, hist

    rows = []
    for name in args.methods.split(","):
        t0 = time.perf_counter()
        method = methods[name]
        if name == "ensemble":  # Tramèr et al.: examples transferred from a fixed model
            static = trained["standard"] if "standard" in trained else fit(advkit.Standard())[0]
            method = advkit.EnsembleAdversarial(static=(static.eval(),))
        model, hist = fit(method)
        if name == "distill":  # defensive distillation: student on the teacher's soft labels
            student = advkit.Distillation(teacher=model.eval(), temperature=20.0)
            model, hist = fit(student)
            method = student
        trained[name] = model
        train_s = time.perf_counter() - t0
        ev = advkit.evaluate(model, (xt, yt), threat, "standard", progress=False)
        rows.append(
            {
                "method": name,
                "config": {
                    "distill": "Distillation(T=20): teacher, then student on its soft labels",
                    "ensemble": "EnsembleAdversarial(static=(the standard model,))",
                }.get(name, repr(method)),
                "clean_accuracy": ev.clean_accuracy,
                "robust_accuracy": ev.robust_accuracy,
                "seconds_per_epoch": train_s / max(args.epochs, 1),
                "final_loss": hist[-1]["loss"] if hist else None,
                "masking": [f.check for f in ev.masking],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    base = next((r["seconds_per_epoch"] for r in rows if r["method"] == "standard"), None)
    for r in rows:
        r["time_vs_standard"] = r["seconds_per_epoch"] / base if base else None
    result = {
        "args": vars(args),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 4))
        for r in rows:
            ax.scatter(100 * r["clean_accuracy"], 100 * r["robust_accuracy"])
            ax.annotate(r["method"], (100 * r["clean_accuracy"], 100 * r["robust_accuracy"]))
        ax.set_xlabel("clean accuracy (%)")
        ax.set_ylabel(f"robust accuracy, standard suite, L∞ ε={args.eps} (%)")
        ax.set_title("Fashion-MNIST, KW-small: accuracy vs robustness")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
