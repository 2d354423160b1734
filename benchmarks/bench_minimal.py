"""Minimal-distortion attacks on the natural LeNet5: the shape of Sharma's Table 6 and Table 5.

Table 6 (MNIST, untargeted here): success rate and mean L1/L2/L∞ of C&W-L2, EAD (EN and L1
rules), FGM-L1/L2/L∞ and I-FGM-L1/L2/L∞ with a per-sample minimal-ε search. Table 5: EAD
(FISTA) against the change-of-variable variant (tanh + Adam) for several β. Time per image
of C&W and EAD is compared with the forward+backward floor of the passes they ran.

Usage:
    python benchmarks/bench_minimal.py --n 100 --out benchmarks/minimal.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

import advkit
from advkit import BIM, CW, EAD, FGM, L1, L2, Linf, MinimalEps
from advkit.data import load_dataset
from advkit.distortion import distortion_report
from advkit.models import load_model, shared_data_dir


def pass_costs(model: torch.nn.Module, x: torch.Tensor, reps: int = 20) -> tuple[float, float]:
    """Seconds per image of one forward pass and of one forward+backward pass."""
    xs = x.clone().requires_grad_(True)
    fwd, fb = [], []
    for _ in range(reps):
        t = time.perf_counter()
        with torch.no_grad():
            model(x)
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        torch.autograd.grad(model(xs).sum(), xs)
        fb.append(time.perf_counter() - t)
    n = x.shape[0]
    return sorted(fwd)[reps // 2] / n, sorted(fb)[reps // 2] / n


def run(model: Any, x: torch.Tensor, y: torch.Tensor, threat: Any, method: Any, costs: Any) -> dict:
    t = time.perf_counter()
    res = advkit.attack(model, x, y, threat, method)
    wall = time.perf_counter() - t
    rep = distortion_report(res)
    grads = float(res.gradient_calls.sum())
    fwd_only = float((res.queries - res.gradient_calls).sum())
    floor = grads * costs[1] + fwd_only * costs[0]
    return {
        "asr": rep.success_rate,
        "l1": rep.mean["l1"],
        "l2": rep.mean["l2"],
        "linf": rep.mean["linf"],
        "seconds_per_image": wall / x.shape[0],
        "grads_per_image": grads / x.shape[0],
        "floor_ratio": wall / floor if floor else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000, help="C&W/EAD iterations per c")
    ap.add_argument("--search-steps", type=int, default=9, help="C&W/EAD values of c")
    ap.add_argument("--ifgm-steps", type=int, default=50)
    ap.add_argument("--betas", default="1e-3,1e-2,1e-1")
    ap.add_argument("--out", default="benchmarks/minimal.json")
    args = ap.parse_args()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("shared data not found: set ADVKIT_SHARED_DATA")
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=args.n)
    model = load_model("lenet5-natural")
    costs = pass_costs(model, x)
    c_opts = {"steps": args.steps, "search_steps": args.search_steps}
    search = 10
    table6 = {
        "C&W-L2": (L2(math.inf), CW(**c_opts)),
        "EAD-EN": (L1(math.inf), EAD(**c_opts)),
        "EAD-L1": (L1(math.inf), EAD(rule="l1", **c_opts)),
        "FGM-L1 (dense)": (L1(math.inf, sparsity=0.0), MinimalEps(FGM(), search_steps=search)),
        "FGM-L2": (L2(math.inf), MinimalEps(FGM(), search_steps=search)),
        "FGM-Linf": (Linf(math.inf), MinimalEps(FGM(), search_steps=search)),
        "I-FGM-L1 (dense)": (
            L1(math.inf, sparsity=0.0),
            MinimalEps(BIM(steps=args.ifgm_steps), search_steps=search),
        ),
        "I-FGM-L1 (sparse top 1%)": (
            L1(math.inf),
            MinimalEps(BIM(steps=args.ifgm_steps), search_steps=search),
        ),
        "I-FGM-L2": (L2(math.inf), MinimalEps(BIM(steps=args.ifgm_steps), search_steps=search)),
        "I-FGM-Linf": (
            Linf(math.inf),
            MinimalEps(BIM(steps=args.ifgm_steps), search_steps=search),
        ),
    }
    out: dict[str, Any] = {
        "n": args.n,
        "threads": torch.get_num_threads(),
        "settings": vars(args),
        "pass_seconds_per_image": {"forward": costs[0], "forward_backward": costs[1]},
        "table6": {},
        "table5": {},
    }
    for name, (threat, method) in table6.items():
        out["table6"][name] = run(model, x, y, threat, method, costs)
        print(name, out["table6"][name], flush=True)
    for beta in [float(b) for b in args.betas.split(",")]:
        for opt in ("fista", "tanh-adam"):
            key = f"beta={beta:g} {opt}"
            method = EAD(beta=beta, optimizer=opt, **c_opts)  # type: ignore[arg-type]
            out["table5"][key] = run(model, x, y, L1(math.inf), method, costs)
            print(key, out["table5"][key], flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
