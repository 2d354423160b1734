"""Minimal-distortion attacks on the natural LeNet5: the shape of Sharma's Table 6 and Table 5.

Table 6 (MNIST, untargeted here): success rate and mean L1/L2/L∞ of C&W-L2, EAD (EN and L1
rules), FGM-L1/L2/L∞ and I-FGM-L1/L2/L∞ with a per-sample minimal-ε search. Table 5: EAD
(FISTA) against the change-of-variable variant (tanh + Adam) for several β. JSMA (L0),
untargeted and targeted. Timing: C&W and EAD wall time against the floor of the very passes
they ran (every forward and forward+backward call is recorded with its batch size, then
replayed bare on the same model; runs alternate attack, replay, attack, ... and the median
ratio is reported), and against k full-batch forward+backward passes (k = their batched
gradient calls).

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
from advkit import BIM, CW, EAD, FGM, JSMA, L0, L1, L2, Linf, MinimalEps
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


class PassRecorder(torch.nn.Module):
    """The model, recording each call's batch size and whether it builds a graph."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls: list[tuple[int, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.shape[0], torch.is_grad_enabled() and x.requires_grad))
        return self.model(x)


def replay(model: torch.nn.Module, calls: list[tuple[int, bool]], x: torch.Tensor) -> float:
    """Seconds to run the recorded passes bare: the same batch sizes, forward or fwd+bwd."""
    t = time.perf_counter()
    for b, grad in calls:
        xb = x[:b]
        if grad:
            xs = xb.clone().requires_grad_(True)
            torch.autograd.grad(model(xs).sum(), xs)
        else:
            with torch.no_grad():
                model(xb)
    return time.perf_counter() - t


def full_batch_passes(model: torch.nn.Module, x: torch.Tensor, reps: int = 20) -> tuple:
    """Median seconds of one forward and of one forward+backward pass over the whole batch."""
    fwd, fb = [], []
    for _ in range(reps):
        t = time.perf_counter()
        with torch.no_grad():
            model(x)
        fwd.append(time.perf_counter() - t)
        xs = x.clone().requires_grad_(True)
        t = time.perf_counter()
        torch.autograd.grad(model(xs).sum(), xs)
        fb.append(time.perf_counter() - t)
    return sorted(fwd)[reps // 2], sorted(fb)[reps // 2]


def timing(model: Any, x: torch.Tensor, y: torch.Tensor, methods: dict, reps: int) -> dict:
    """Attack wall time against the replayed passes (median over ``reps`` alternations)."""
    out = {}
    replay(model, [(x.shape[0], True)] * 20, x)  # warm up
    for name, (threat, method) in methods.items():
        rows = []
        for _ in range(reps):
            rec = PassRecorder(model).eval()
            t = time.perf_counter()
            advkit.attack(rec, x, y, threat, method)
            wall = time.perf_counter() - t
            floor = replay(model, rec.calls, x)
            rows.append((wall / floor, wall, floor, rec.calls))
        rows.sort(key=lambda r: r[0])
        ratio, wall, floor, calls = rows[len(rows) // 2]
        k = sum(1 for _, g in calls if g)
        fwd, fb = full_batch_passes(model, x)
        k_full = k * fb + (len(calls) - k) * fwd
        out[name] = {
            "ratio_to_replayed_passes": ratio,
            "ratios_all": [r[0] for r in rows],
            "wall_seconds": wall,
            "replayed_seconds": floor,
            "batched_gradient_calls": k,
            "batched_forward_calls": len(calls) - k,
            "rows_with_gradient": sum(b for b, g in calls if g),
            "rows_forward_only": sum(b for b, g in calls if not g),
            "k_full_batch_seconds": k_full,
            "ratio_to_k_full_batch": wall / k_full,
        }
        print(name, {a: b for a, b in out[name].items()}, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000, help="C&W/EAD iterations per c")
    ap.add_argument("--search-steps", type=int, default=9, help="C&W/EAD values of c")
    ap.add_argument("--ifgm-steps", type=int, default=50)
    ap.add_argument("--betas", default="1e-3,1e-2,1e-1")
    ap.add_argument("--projected", action="store_true", help="C&W without tanh")
    ap.add_argument("--initial-const", type=float, default=1e-3, help="C&W/EAD first c")
    ap.add_argument("--jsma-n", type=int, default=20, help="images for JSMA (O(d²) per step)")
    ap.add_argument("--timing-reps", type=int, default=3, help="alternations attack/replay")
    ap.add_argument("--skip-tables", action="store_true", help="only JSMA and the timing")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--out", default="benchmarks/minimal.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("shared data not found: set ADVKIT_SHARED_DATA")
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=args.n)
    model = load_model("lenet5-natural")
    costs = pass_costs(model, x)
    c_opts: dict[str, Any] = {
        "steps": args.steps,
        "search_steps": args.search_steps,
        "initial_const": args.initial_const,
    }
    search = 10
    table6 = {
        "C&W-L2": (L2(math.inf), CW(tanh=not args.projected, **c_opts)),
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
    if args.skip_tables:
        table6, betas = {}, []
    else:
        betas = [float(b) for b in args.betas.split(",")]
    for name, (threat, method) in table6.items():
        out["table6"][name] = run(model, x, y, threat, method, costs)
        print(name, out["table6"][name], flush=True)
    for beta in betas:
        for opt in ("fista", "tanh-adam"):
            key = f"beta={beta:g} {opt}"
            method = EAD(beta=beta, optimizer=opt, **c_opts)  # type: ignore[arg-type]
            out["table5"][key] = run(model, x, y, L1(math.inf), method, costs)
            print(key, out["table5"][key], flush=True)
    gen = torch.Generator().manual_seed(0)
    target = (y + torch.randint(1, 10, y.shape, generator=gen)) % 10
    out["jsma"] = {}
    for key, method, tgt in (
        ("untargeted", JSMA(), None),
        ("targeted random, gamma=0.145", JSMA(gamma=0.145), target),
    ):
        m = args.jsma_n
        t = time.perf_counter()
        tm = None if tgt is None else tgt[:m]
        res = advkit.attack(model, x[:m], y[:m], L0(math.inf), method, target=tm)
        rep = distortion_report(res)
        out["jsma"][key] = {
            "asr": rep.success_rate,
            "l0": rep.mean["l0"],
            "l0_fraction": rep.mean["l0"] / x[0].numel(),
            "l2": rep.mean["l2"],
            "grads_per_image": float(res.gradient_calls.float().mean()),
            "seconds_per_image": (time.perf_counter() - t) / m,
            "n": m,
        }
        print("JSMA", key, out["jsma"][key], flush=True)
    timed = {
        "C&W-L2": (L2(math.inf), CW(tanh=not args.projected, **c_opts)),
        "EAD-EN": (L1(math.inf), EAD(**c_opts)),
    }
    out["timing"] = timing(model, x, y, timed, args.timing_reps)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
