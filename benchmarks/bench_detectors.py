"""Detectors on MNIST / LeNet5: clean false positives, plain attacks, adaptive attack vs κ.

Calibrates the feature-squeezing joint detector (1-bit depth + 2×2 median, Xu et al.
2018) and the gradient-norm detector (Finlay & Oberman) for 5% false positives on MNIST
test images ``[n, n + calibrate_n)`` and evaluates on the first ``n`` test images with the
natural LeNet5 (``lenet5-natural``): the false-positive rate on those held-out images, the
detection rate of plain C&W L2 and EAD (EN rule) examples at κ = 0 and at higher κ (the
non-adaptive, high-confidence attacks of Sharma 2018, Table 11), and the success of the
adaptive attack ``EvadeDetector`` (misclassified and not detected) as κ grows.

Example:
    python benchmarks/bench_detectors.py --n 20 --calibrate-n 1000 \\
        --out benchmarks/detectors.json --table /tmp/detectors.table.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

import advkit
from advkit import CW, EAD, EvadeDetector, FeatureSqueezing, GradientNormDetector
from advkit.data import load_dataset
from advkit.evaluate.detection import detection_row, evaluate_detector
from advkit.models import load_model


def _floats(text: str) -> list[float]:
    return [float(t) for t in text.split(",") if t]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = Path(os.environ.get("ADVKIT_SHARED_DATA", "../shared/data"))
    p.add_argument("--data-dir", default=str(default_dir / "datasets" / "mnist"))
    p.add_argument("--model", default="lenet5-natural")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--calibrate-n", type=int, default=1000)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--search-steps", type=int, default=4)
    p.add_argument("--initial-const", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--adaptive-const", type=float, default=1.0, help="adaptive attack's first c")
    p.add_argument("--adaptive-lr", type=float, default=0.1, help="adaptive attack's lr")
    p.add_argument("--plain-kappa", type=_floats, default=[0.0, 30.0])
    p.add_argument("--adaptive-kappa", type=_floats, default=[0.0, 10.0])
    p.add_argument("--detectors", default="feature-squeezing,gradient-norm")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/detectors.json")
    p.add_argument("--table", default="benchmarks/detectors.table.md", help="markdown tables")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    x, y = load_dataset(
        "mnist", split="test", data_dir=args.data_dir, limit=args.n + args.calibrate_n
    )
    xe, ye, xc = x[: args.n], y[: args.n], x[args.n :]
    search = {
        "steps": args.steps,
        "search_steps": args.search_steps,
        "initial_const": args.initial_const,
        "lr": args.lr,
    }
    with torch.no_grad():
        correct = model(xe).argmax(dim=1) == ye
    idx = correct.nonzero().squeeze(1)
    threat = advkit.L2(math.inf)
    plain: dict[str, advkit.AttackResult] = {}
    t0 = time.process_time()
    for k in args.plain_kappa:
        for name, method in (
            (f"C&W k={k:g}", CW(kappa=k, **search)),
            (f"EAD k={k:g}", EAD(kappa=k, **search)),
        ):
            plain[name] = advkit.attack(model, xe[idx], ye[idx], threat, method, index=idx)
    plain_seconds = time.process_time() - t0
    results = []
    for kind in args.detectors.split(","):
        det = (
            FeatureSqueezing(model) if kind == "feature-squeezing" else GradientNormDetector(model)
        )
        det.calibrate(xc, fpr=0.05)
        tuned = {**search, "initial_const": args.adaptive_const, "lr": args.adaptive_lr}
        adaptive = {
            f"adaptive k={k:g}": EvadeDetector(det, kappa=k, **tuned) for k in args.adaptive_kappa
        }
        t0 = time.process_time()
        rep = evaluate_detector(model, det, (xe, ye), adaptive, threat=threat)
        rows = [detection_row(det, name, res) for name, res in plain.items()] + rep.rows
        rep = replace(rep, rows=rows)
        record = rep.as_dict()
        record["adaptive_cpu_seconds"] = time.process_time() - t0
        results.append(record)
        print(rep.table(), flush=True)
    out = {
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} thread(s)",
        "attack_options": search,
        "adaptive_options": {"initial_const": args.adaptive_const, "lr": args.adaptive_lr},
        "plain_cpu_seconds": plain_seconds,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=1))
    Path(args.table).write_text(_markdown(results))


def _markdown(results: list[dict]) -> str:  # type: ignore[type-arg]
    lines = []
    for r in results:
        lines.append(
            f"**{r['detector']}** (threshold {r['threshold']:.4g}; clean false positives "
            f"{100 * r['fpr']:.1f}% on {r['n']} held-out images; {r['correct']} correctly "
            "classified are attacked)\n"
        )
        lines.append("| attack | fooled | detected | evasion | L1 | L2 | L∞ |")
        lines.append("|---|---|---|---|---|---|---|")
        for a in r["attacks"]:
            lines.append(
                f"| {a['attack']} | {100 * a['success']:.0f}% | {100 * a['detected']:.0f}% | "
                f"{100 * a['evasion']:.0f}% | {a['l1']:.3g} | {a['l2']:.3g} | {a['linf']:.3g} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
