"""Certification on published checkpoints: certified accuracy and seconds per sample.

- Wong & Kolter's certified MNIST model (KW-small), L∞ ε = 0.1: IBP, CROWN and α-CROWN
  certified error vs the published 5.8% (dual bound, full test set), beside APGD's
  empirical error (the sandwich);
- ResNet-2B (adversarially trained, CIFAR-10 sample of 200), L∞ ε = 2/255: certified
  accuracy vs the published 26.88% CROWN-verified (different sample);
- exact MIP (HiGHS) on ``toy-mnist-2-20`` and ERAN ConvSmall MNIST: solve rate and
  seconds per sample;
- the sandwich table (certified vs empirical robust accuracy by ε) of the KW model.

Usage:
    python benchmarks/bench_certify.py --kw-n 10000 --device cuda --out benchmarks/certify.json
    python benchmarks/bench_certify.py --kw-only --kw-n 500 --out benchmarks/certify_kw.json

Needs the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import advkit
from advkit.data import load_dataset
from advkit.evaluate.sandwich import sandwich
from advkit.models import load_model, shared_data_dir


def _certify(model: Any, x: Any, y: Any, eps: float, method: Any, batch: int) -> dict:
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    res = advkit.certify(model, x, y, advkit.Linf(eps), method, batch_size=batch)
    if x.is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    status = res.status()
    return {
        "method": repr(method),
        "certified_accuracy": res.certified_accuracy,
        "certified_error": 1 - res.certified_accuracy,
        "decided_by_counterexample": status.count("attacked"),
        "unknown": status.count("unknown"),
        "seconds_per_sample": seconds / len(y),
    }


def _empirical(model: Any, x: Any, y: Any, eps: float) -> dict:
    success, correct = [], []
    for i in range(0, len(y), 500):
        r = advkit.attack(model, x[i : i + 500], y[i : i + 500], advkit.Linf(eps), advkit.APGD())
        success.append(r.success.cpu())
        with torch.no_grad():
            correct.append((model(x[i : i + 500]).argmax(1) == y[i : i + 500]).cpu())
    s, c = torch.cat(success), torch.cat(correct)
    return {
        "clean_accuracy": float(c.float().mean()),
        "apgd_robust_accuracy": float((c & ~s).float().mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kw-n", type=int, default=500, help="MNIST test images for KW")
    ap.add_argument("--cifar-n", type=int, default=200)
    ap.add_argument("--mip-n", type=int, default=50)
    ap.add_argument("--sandwich-n", type=int, default=500)
    ap.add_argument("--alpha-n", type=int, default=100, help="images for α-CROWN")
    ap.add_argument("--alpha-steps", type=int, default=20)
    ap.add_argument("--eran-n", type=int, default=10, help="MNIST images for ERAN MIP")
    ap.add_argument("--mip-limit", type=float, default=60.0, help="MIP seconds per sample")
    ap.add_argument("--suite", default="standard", help="attack suite of the sandwich")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--kw-only", action="store_true", help="only the KW MNIST IBP/CROWN/APGD block")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="benchmarks/certify.json")
    args = ap.parse_args()
    root = shared_data_dir()
    if root is None:
        sys.exit("shared data folder not found: set ADVKIT_SHARED_DATA")
    dev = torch.device(args.device)
    out: dict[str, Any] = {"args": vars(args), "torch": torch.__version__}
    mnist = root / "datasets" / "mnist"

    kw = load_model("kw-mnist-0.1").to(dev)
    x, y = load_dataset("mnist", split="test", data_dir=mnist, limit=args.kw_n)
    x, y = x.to(dev), y.to(dev)
    rows = {"n": len(y), "eps": 0.1, "published_certified_error": 0.058}
    rows.update(_empirical(kw, x, y, 0.1))
    for m in (advkit.IBP(), advkit.CROWN()):
        rows[m.name] = _certify(kw, x, y, 0.1, m, args.batch)
        print("kw", m.name, rows[m.name], flush=True)
    if args.kw_only:
        out["kw_mnist_0.1"] = rows
        Path(args.out).write_text(json.dumps(out, indent=1))
        return
    na = args.alpha_n
    alpha = advkit.AlphaCROWN(steps=args.alpha_steps)
    rows["crown_on_alpha_subset"] = _certify(kw, x[:na], y[:na], 0.1, advkit.CROWN(), args.batch)
    rows["alpha-crown"] = _certify(kw, x[:na], y[:na], 0.1, alpha, args.batch)
    print("kw alpha", rows["alpha-crown"], rows["crown_on_alpha_subset"], flush=True)
    out["kw_mnist_0.1"] = rows

    rn = load_model("resnet2b-cifar").to(dev)
    xc = torch.from_numpy(np.load(root / "datasets/cifar10-sample/sample200_X.npy"))
    xc = xc.permute(0, 3, 1, 2).contiguous()[: args.cifar_n].to(dev)
    yc = torch.from_numpy(np.load(root / "datasets/cifar10-sample/sample200_y.npy")).long()
    yc = yc[: args.cifar_n].to(dev)
    rows = {"n": len(yc), "eps": 2 / 255, "published_crown_verified": 0.2688}
    rows.update(_empirical(rn, xc, yc, 2 / 255))
    for m in (advkit.IBP(), advkit.CROWN(), advkit.AlphaCROWN(steps=args.alpha_steps)):
        rows[m.name] = _certify(rn, xc, yc, 2 / 255, m, args.batch)
        print("resnet2b", m.name, rows[m.name], flush=True)
    out["resnet2b_cifar_2/255"] = rows

    for name, eps, n in (
        ("toy-mnist-2-20", 0.03, args.mip_n),
        ("eran-mnist-convsmall", 0.12, args.eran_n),
    ):
        model = load_model(name)
        limit = args.mip_limit
        xm, ym = load_dataset("mnist", split="test", data_dir=mnist, limit=n)
        rows = {"n": len(ym), "eps": eps, "time_limit": limit}
        rows["crown"] = _certify(model, xm, ym, eps, advkit.CROWN(), args.batch)
        rows["mip"] = _certify(model, xm, ym, eps, advkit.MIP(time_limit=limit), args.batch)
        rows["mip"]["solve_rate"] = 1 - rows["mip"]["unknown"] / len(ym)
        print(name, rows, flush=True)
        out[f"mip_{name}"] = rows

    xs, ys = x[: args.sandwich_n], y[: args.sandwich_n]
    threat = advkit.Linf(0.1)
    ev = advkit.evaluate(
        kw, (xs, ys), threat, args.suite, eps_curve=[0.02, 0.05, 0.15], progress=False
    )
    table = sandwich(ev, kw, (xs, ys), threat, advkit.CROWN(), batch_size=args.batch)
    out["sandwich_kw_mnist"] = [{k: v for k, v in r.items() if k != "status"} for r in table]
    print(out["sandwich_kw_mnist"], flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
