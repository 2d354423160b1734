"""Label-only, few-pixel, substitute and transfer attacks on the natural LeNet5 (MNIST test
images): success, median L2, queries and seconds per image.

Usage:
    ADVKIT_SHARED_DATA=/work/shared/data python benchmarks/bench_labelonly.py \\
        --n 10 --out benchmarks/labelonly.json
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
from advkit.evaluate.transferability import transferability_matrix
from advkit.models import load_model
from advkit.models.architectures import kw_small


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10, help="MNIST test images attacked")
    ap.add_argument("--boundary-steps", type=int, default=1000)
    ap.add_argument("--hsj-steps", type=int, default=15)
    ap.add_argument("--pixel-generations", type=int, default=20)
    ap.add_argument("--transfer-n", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/labelonly.json")
    args = ap.parse_args()
    shared = Path(os.environ.get("ADVKIT_SHARED_DATA", "../shared/data"))
    x_all, y_all = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=None)
    x, y = x_all[: args.n], y_all[: args.n]
    model = load_model("lenet5-natural")
    rows: dict[str, dict[str, object]] = {}

    def record(name: str, res: advkit.AttackResult, seconds: float, **extra: object) -> None:
        ok = res.success
        d = res.distances()
        rows[name] = {
            "success": float(ok.float().mean()),
            "median_l2_successful": float(d["l2"][ok].median()) if ok.any() else None,
            "median_linf_successful": float(d["linf"][ok].median()) if ok.any() else None,
            "mean_l0_successful": float(d["l0"][ok].mean()) if ok.any() else None,
            "mean_queries": float(res.queries.float().mean()),
            "max_queries": int(res.queries.max()),
            "seconds_per_image": seconds / len(res.y),
            **extra,
        }
        print(name, rows[name], flush=True)

    def timed(oracle: object, threat: advkit.ThreatModel, method: advkit.Attack, xs=x, ys=y):
        t = time.perf_counter()
        res = advkit.attack(oracle, xs, ys, threat, method)  # type: ignore[arg-type]
        return res, time.perf_counter() - t

    res, s = timed(
        model, advkit.L2(math.inf), advkit.CW(steps=200, search_steps=4, initial_const=1.0)
    )
    record("cw-l2 (white-box reference)", res, s)
    res, s = timed(
        advkit.LabelOnly(model),
        advkit.L2(math.inf),
        advkit.Boundary(steps=args.boundary_steps),
    )
    record(f"boundary ({args.boundary_steps} steps)", res, s)
    for threat, tag in ((advkit.L2(math.inf), "l2"), (advkit.Linf(math.inf), "linf")):
        hsj = advkit.HopSkipJump(steps=args.hsj_steps)
        res, s = timed(advkit.LabelOnly(model), threat, hsj)
        record(f"hopskipjump-{tag} ({args.hsj_steps} iterations)", res, s)
    for k in (1, 3):
        op = advkit.OnePixel(pixels=k, population=100, generations=args.pixel_generations)
        res, s = timed(advkit.ScoreOnly(model), advkit.Linf(math.inf), op)
        record(f"one-pixel k={k} scores (100 x {args.pixel_generations + 1})", res, s)
    op = advkit.OnePixel(pixels=3, population=100, generations=args.pixel_generations)
    res, s = timed(advkit.LabelOnly(model), advkit.Linf(math.inf), op)
    record(f"one-pixel k=3 labels only (100 x {args.pixel_generations + 1})", res, s)

    # Papernot et al.: substitute from 150 held-out images, labels only
    t = time.perf_counter()
    sub = advkit.train_substitute(advkit.LabelOnly(model), x_all[-150:], kw_small, rounds=5)
    train_s = time.perf_counter() - t
    info = {"label_queries": sub.label_queries, "substitute_train_seconds": train_s}
    xt, yt = x_all[: args.transfer_n], y_all[: args.transfer_n]
    fgsm = advkit.Transfer((sub.model,), advkit.FGM())
    res, s = timed(advkit.LabelOnly(model), advkit.Linf(0.3), fgsm, xt, yt)
    record("substitute FGSM eps=0.3", res, s, **info)
    cw20 = advkit.Transfer(
        (sub.model,), advkit.CW(kappa=20, steps=300, search_steps=5, initial_const=1.0)
    )
    res, s = timed(advkit.LabelOnly(model), advkit.L2(math.inf), cw20, xt[:20], yt[:20])
    record("substitute C&W kappa=20 (20 images)", res, s, **info)
    white, s = timed(model, advkit.Linf(0.3), advkit.FGM(), xt, yt)
    record("white-box FGSM eps=0.3 (reference)", white, s)

    names = ["lenet5-natural", "eran-mnist-convsmall", "fc-3layer", "toy-mnist-2-20"]
    nets = {m: load_model(m) for m in names}
    matrices = {}
    for label, threat, method in (
        ("fgsm eps=0.3", advkit.Linf(0.3), advkit.FGM()),
        ("pgd eps=0.3", advkit.Linf(0.3), advkit.PGD(steps=40, restarts=1)),
    ):
        t = time.perf_counter()
        tm = transferability_matrix(nets, xt, yt, threat, method, ensemble=True)
        matrices[label] = {**tm.to_dict(), "seconds": time.perf_counter() - t}
        print(label, "\n" + tm.table(), flush=True)
        tm.plot(Path(args.out).with_suffix(f".{label.split()[0]}.png"), title=label)
    meta = {"n": args.n, "transfer_n": args.transfer_n, "torch_threads": torch.get_num_threads()}
    out = {"meta": meta, "results": rows, "transfer_matrices": matrices}
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
