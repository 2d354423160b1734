"""Square at L1: advkit's next to the reference's (``pyautoattack``) on the same MNIST images.

Both run AutoAttack's settings (p_init 0.8, the unscaled schedule, 5000 queries, seed 0) on
the first n MNIST test images of a shared LeNet5, on one thread, one after the other in the
same process. Each returned point is checked to lie in the ℓ1 ball and [0, 1] before it
counts. Recorded: clean accuracy, how many correctly classified images each breaks, the
images only one of them breaks, the median and largest query count of the broken ones, and
wall and CPU seconds.

The reference is installed only in the benchmark's own venv, never as advkit's dependency:

    python3.11 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.13.0 pyautoattack==0.2.0
    OMP_NUM_THREADS=1 ADVKIT_SHARED_DATA=../shared/data PYTHONPATH=src /tmp/peers/bin/python \\
        benchmarks/bench_square_l1.py --model lenet5-natural --eps 10 --n 100

Needs the shared data folder (``$ADVKIT_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pyautoattack.square import SquareAttack

import advkit
from advkit.models import load_model, shared_data_dir
from bench_support import shared_data


def _timed(run: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall, cpu = time.perf_counter(), usage.ru_utime + usage.ru_stime
    out = run()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu
    return out, {"wall": time.perf_counter() - wall, "cpu": cpu}


def _checked(x_adv: torch.Tensor, x: torch.Tensor, eps: float, who: str) -> torch.Tensor:
    """x_adv, refused when a point leaves the ℓ1 ball (float32 slack) or the box."""
    dist = (x_adv - x).double().abs().flatten(1).sum(dim=1)
    if bool((dist > eps * (1 + 1e-5)).any()) or x_adv.min() < 0 or x_adv.max() > 1:
        raise SystemExit(f"{who} returned a point outside the ℓ1 ball or [0, 1]")
    return x_adv


def _advkit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, q: int) -> Any:
    method = advkit.Square(queries=q, p_init=0.8, rescale=False)
    res = advkit.attack(advkit.ScoreOnly(model, budget=q), x, y, advkit.L1(eps), method, seed=0)
    _checked(res.x_adv, x, eps, "advkit")
    return res.success.tolist(), res.queries.tolist()


def _reference(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, q: int) -> Any:
    """The reference's L1 Square on the correctly classified images (as its ``perturb``
    runs it, seeded the same way), keeping its per-sample query counts."""
    attack = SquareAttack(model, norm="L1", eps=eps, n_queries=q, p_init=0.8, seed=0)
    attack.rescale_schedule = False
    attack.init_hyperparam(x)
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    torch.manual_seed(0)
    queries, adv = attack.attack_single_run(x[correct], y[correct])
    _checked(adv, x[correct], eps, "the reference")
    with torch.no_grad():
        broken = model(adv).argmax(1) != y[correct]
    success, spent = (~correct).tolist(), [0] * len(y)
    for j, i in enumerate(correct.nonzero().flatten().tolist()):
        success[i], spent[i] = bool(broken[j]), int(queries[j])
    return success, spent


def _summary(success: list[bool], queries: list[int], correct: list[bool]) -> dict[str, Any]:
    spent = [q for s, q, c in zip(success, queries, correct, strict=True) if s and c]
    return {
        "broken_of_correct": sum(s and c for s, c in zip(success, correct, strict=True)),
        "median_queries_of_broken": statistics.median(spent) if spent else None,
        "max_queries_of_broken": max(spent, default=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet5-natural")
    parser.add_argument("--eps", type=float, default=10.0)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("set ADVKIT_SHARED_DATA to the shared data folder")
    model = load_model(args.model)
    x, y = shared_data(shared, args.model, args.n)
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).tolist()
    ours, ours_s = _timed(lambda: _advkit(model, x, y, args.eps, args.queries))
    ref, ref_s = _timed(lambda: _reference(model, x, y, args.eps, args.queries))
    pairs = list(zip(ours[0], ref[0], correct, strict=True))
    row = {
        "model": args.model,
        "eps": args.eps,
        "n": args.n,
        "queries": args.queries,
        "clean_correct": sum(correct),
        "advkit": {**_summary(*ours, correct), "seconds": ours_s},
        "reference": {**_summary(*ref, correct), "seconds": ref_s},
        "broken_by_advkit_only": [i for i, (a, r, c) in enumerate(pairs) if c and a and not r],
        "broken_by_reference_only": [i for i, (a, r, c) in enumerate(pairs) if c and r and not a],
    }
    print(json.dumps(row, indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
