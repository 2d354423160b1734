"""Overhead of advkit's gradient attacks over the forward+backward floor.

The floor is the time of one forward+backward pass with respect to the input: no
first-order attack can take a step for less. An attack's overhead ratio is its wall time
over what its own gradient calls cost at the floor:

    ratio = wall / Σ_calls floor(batch size of the call),

with the gradient calls the attack reports (``AttackResult.gradient_calls``), so images
that stop early do not flatter the ratio, and each call priced at its actual batch size:
on CPU the per-image cost of a pass changes by up to ±20% from one batch size to the
next (256 is slower per image than 236), so pricing k = calls / images passes at the
full-batch floor (also reported, ``ratio_full_batch``) is biased either way. Forward-only
passes (the clean check, the last iterate, the re-check of ``x_adv``) and the random
start count as overhead. For FGSM (one gradient call) the ratio is the whole fixed cost of
a call, and it cannot go below 1 + forward / (forward+backward): success is judged on one
forward pass at ``x_adv``. ``ratio_with_last_forward`` prices that pass too (one forward
pass at the last call's batch size, as every attack evaluates its last iterate).

Setting: advkit's ``lenet5-pgd`` (advertorch's PGD-trained MNIST LeNet5) on the first
MNIST test images at L∞ ε = 0.3, where about 90% of the points stay robust and run every
step. Floor and attacks run in one process on the same batches, interleaved over
``--repeats`` rounds (floor, attack, floor at the attack's batch sizes); medians over
rounds are reported.

The same attacks on a near-free linear model (``bookkeeping``) isolate what an attack
costs beyond the model, in ms per gradient call: on any model, ratio ≈ 1 + that / floor.

It also counts the gradient calls of ``advkit.evaluate(..., suite="standard")`` against
the nominal cost of running every attack on every image (APGD-CE 101 + APGD-T 9 × 101 +
FAB-T 9 × 100 per image), and, when importable, times torchattacks' PGD on the same work
(it always runs every step on every image).

Run from the project root (needs the shared test data, ``../shared/data`` or
``$ADVKIT_SHARED_DATA``):

    .venv/bin/python benchmarks/bench_gradient.py --threads 2 --out bench_gradient.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import advkit
from advkit.attacks import Attack
from advkit.data import load_dataset
from advkit.models import load_model, shared_data_dir

EPS = 0.3
STANDARD_STEPS = 100
STANDARD_TARGETS = 9

TINY_EPS = 1e-3

Batches = list[tuple[Tensor, Tensor]]
Run = Callable[[Tensor, Tensor], Tensor]
"""Attacks one batch (x, y); returns the gradient calls it made for each image."""


def fwd_bwd(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """One forward+backward pass with respect to the input: the floor's unit of work."""
    xg = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(xg), y, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), xg)
    return grad


@torch.no_grad()
def fwd(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """One forward pass without a graph: what judging the success of a point costs."""
    return model(x)


def pass_seconds(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    warmup: int,
    repeats: int,
    unit: Callable[[nn.Module, Tensor, Tensor], Tensor] = fwd_bwd,
) -> float:
    """Median time of one ``unit`` pass (forward+backward) on (x, y), after ``warmup``."""
    for _ in range(warmup):
        unit(model, x, y)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        unit(model, x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def schedule(calls: Tensor) -> list[int]:
    """The batch size of each gradient call of one run, from the per-image counts.

    An image with c gradient calls took part in the first c calls of its batch (one
    restart; an image leaves the batch once broken).
    """
    return [int((calls >= j).sum()) for j in range(1, int(calls.max()) + 1)]


def floor_of_schedule(
    model: nn.Module, x: Tensor, y: Tensor, sizes: list[int], repeats: int
) -> float:
    """What the gradient calls of ``sizes`` cost at the floor: the sum, over the calls, of
    the median forward+backward time at that call's batch size."""
    seconds = {b: pass_seconds(model, x[:b], y[:b], 1, repeats) for b in set(sizes)}
    return sum(seconds[b] for b in sizes)


def advkit_run(model: nn.Module, method: Attack, eps: float) -> Run:
    def run(x: Tensor, y: Tensor) -> Tensor:
        return advkit.attack(model, x, y, advkit.Linf(eps), method, seed=0).gradient_calls

    return run


def all_runs(model: nn.Module, steps: int, eps: float, peers: bool) -> dict[str, Run]:
    """advkit's FGSM, PGD-k and APGD-k, and PGD-k of the importable peer libraries."""
    runs = {
        "advkit FGSM": advkit_run(model, advkit.FGM(), eps),
        f"advkit PGD-{steps}": advkit_run(model, advkit.PGD(steps=steps, restarts=1), eps),
        f"advkit APGD-{steps}": advkit_run(model, advkit.APGD(steps=steps), eps),
    }
    return runs | peer_runs(model, steps, eps) if peers else runs


def peer_runs(model: nn.Module, steps: int, eps: float) -> dict[str, Run]:
    """PGD-k of the importable peer libraries, with advkit's default step size."""
    try:
        import torchattacks
    except ImportError:
        return {}
    attack = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / steps, steps=steps)

    def run(x: Tensor, y: Tensor) -> Tensor:
        attack(x, y)
        return torch.full((len(x),), steps)  # no early stop: every step on every image

    return {f"torchattacks {torchattacks.__version__} PGD-{steps}": run}


def chosen(runs: dict[str, Run], only: str | None) -> dict[str, Run]:
    """The runs whose names contain one of the comma-separated parts of ``only`` (all when
    None)."""
    if only is None:
        return runs
    parts = only.split(",")
    return {name: run for name, run in runs.items() if any(p in name for p in parts)}


def near_free_problem(batches: Batches) -> tuple[nn.Module, Batches]:
    """A linear model with a forward+backward pass almost free, and its own predictions
    as labels: at ε = TINY_EPS nearly every point stays robust, so an attack's time is
    almost all its own bookkeeping (projection, step, best-so-far, counters, checks)."""
    gen = torch.Generator().manual_seed(0)
    d = batches[0][0][0].numel()
    linear = nn.Linear(d, 10)
    with torch.no_grad():
        linear.weight.copy_(0.01 * torch.randn(10, d, generator=gen))
        linear.bias.zero_()
        tiny = nn.Sequential(nn.Flatten(), linear).eval()
        return tiny, [(x, tiny(x).argmax(dim=1)) for x, _ in batches]


def measure_attacks(
    model: nn.Module, batches: Batches, runs: dict[str, Run], args: argparse.Namespace
) -> dict[str, Any]:
    """Floor, wall time, true k, ratios and overhead per call of each run (median of rounds).

    ``ratio`` compares the wall time with the same gradient calls, at the same batch sizes,
    at the floor; ``ratio_full_batch`` with k passes at the full-batch floor.
    """
    n = sum(len(y) for _, y in batches)
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            floor = sum(
                pass_seconds(model, x, y, args.warmup, args.floor_repeats) for x, y in batches
            )
            start = time.perf_counter()
            calls = [run(x, y) for x, y in batches]
            wall = time.perf_counter() - start
            sizes = [schedule(c) for c in calls]
            ideal = sum(
                floor_of_schedule(model, x, y, s, args.floor_repeats)
                for (x, y), s in zip(batches, sizes, strict=True)
            )
            last = sum(
                pass_seconds(model, x[: s[-1]], y[: s[-1]], 1, args.floor_repeats, fwd)
                for (x, y), s in zip(batches, sizes, strict=True)
            )
            k = sum(int(c.sum()) for c in calls) / n
            rounds[name].append(
                {
                    "floor_ms": 1e3 * floor,
                    "wall_s": wall,
                    "k": k,
                    "floor_of_same_calls_s": ideal,
                    "ratio": wall / ideal,
                    "last_forward_ms": 1e3 * last,
                    "ratio_with_last_forward": wall / (ideal + last),
                    "ratio_full_batch": wall / (k * floor),
                    "overhead_ms_per_call": 1e3 * (wall - ideal) / sum(map(len, sizes)),
                }
            )
    return {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} | {"rounds": rs}
        for name, rs in rounds.items()
    }


def standard_suite(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> dict[str, Any]:
    """Gradient calls of the standard suite against running every attack on every image."""
    start = time.perf_counter()
    ev = advkit.evaluate(
        model, (x, y), advkit.Linf(EPS), suite="standard", batch_size=batch_size, progress=False
    )
    wall = time.perf_counter() - start
    calls = sum(s.gradient_calls for s in ev.samples[EPS])
    apgd = (STANDARD_STEPS + 1) * (1 + STANDARD_TARGETS)  # APGD-CE and APGD-T
    nominal = len(y) * (apgd + STANDARD_STEPS * STANDARD_TARGETS)  # + FAB-T
    return {
        "n": len(y),
        "clean_accuracy": ev.clean_accuracy,
        "robust_accuracy": ev.robust_accuracy,
        "gradient_calls": calls,
        "nominal_gradient_calls": nominal,
        "fraction_of_nominal": calls / nominal,
        "wall_s": wall,
    }


def machine(threads: int) -> dict[str, Any]:
    cpu = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    return {
        "cpu": cpu,
        "cpus_visible": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256, help="test images attacked (256)")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size (256)")
    parser.add_argument("--steps", type=int, default=100, help="PGD/APGD steps k (100)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed floor passes (3)")
    parser.add_argument(
        "--floor-repeats", type=int, default=5, help="timed passes per floor batch size (5)"
    )
    parser.add_argument(
        "--suite-n",
        type=int,
        default=512,
        help="test images for the standard-suite gradient-call count (512; 0 skips it)",
    )
    parser.add_argument(
        "--no-peers", dest="peers", action="store_false", help="skip the peer libraries"
    )
    parser.add_argument(
        "--only", help="run only the attacks whose names contain one of these, e.g. FGSM,APGD"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    data = shared_data_dir()
    if data is None:
        raise SystemExit("needs the shared test data: ../shared/data or $ADVKIT_SHARED_DATA")
    torch.set_num_threads(args.threads)
    model = load_model("lenet5-pgd")
    x, y = load_dataset("mnist", data_dir=data / "datasets" / "mnist")
    xs, ys = x[: args.n].split(args.batch_size), y[: args.n].split(args.batch_size)
    batches = list(zip(xs, ys, strict=True))
    runs = chosen(all_runs(model, args.steps, EPS, args.peers), args.only)
    tiny, tiny_batches = near_free_problem(batches)
    tiny_runs = chosen(all_runs(tiny, args.steps, TINY_EPS, args.peers), args.only)

    result: dict[str, Any] = {
        "command": " ".join(["benchmarks/bench_gradient.py", *(argv or sys.argv[1:])]),
        "machine": machine(args.threads),
        "setting": {
            "model": "lenet5-pgd",
            "threat": f"Linf eps={EPS}",
            "n": args.n,
            "batch_size": args.batch_size,
            "steps": args.steps,
        },
        "attacks": measure_attacks(model, batches, runs, args),
        "bookkeeping": measure_attacks(tiny, tiny_batches, tiny_runs, args),
    }
    for section in ("attacks", "bookkeeping"):
        print(f"{section}:")
        for name, r in result[section].items():
            print(
                f"{name:>28}: floor {r['floor_ms']:6.2f} ms  wall {r['wall_s']:6.2f} s  "
                f"k {r['k']:5.1f}  ratio {r['ratio']:.3f} ({r['ratio_full_batch']:.3f} "
                f"vs k x full-batch floor, {r['ratio_with_last_forward']:.3f} with the last "
                f"forward)  overhead {r['overhead_ms_per_call']:5.2f} ms/call"
            )
    if args.suite_n:
        s = standard_suite(model, x[: args.suite_n], y[: args.suite_n], args.batch_size)
        result["standard_suite"] = s
        print(
            f"standard suite on {s['n']} images: {s['gradient_calls']} gradient calls, "
            f"nominal {s['nominal_gradient_calls']} ({s['fraction_of_nominal']:.1%}); "
            f"robust accuracy {s['robust_accuracy']:.1%}; {s['wall_s']:.0f} s"
        )
    result["machine"]["load_average_at_end"] = os.getloadavg()
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
