"""2 gloo workers × 1 thread against 1 worker × 1 thread: ``advkit evaluate --workers``.

The same evaluation twice, each a fresh ``advkit evaluate`` as a user would run it:
``lenet5-pgd`` (PGD-trained MNIST LeNet5) on the first 256 MNIST test images at L∞
ε = 0.3, the ``quick`` suite by default, batches of 32 (eight batches: one process forms a
single batch of 256, which two workers could not share):

- ``one``: one process, one intra-op thread (``OMP_NUM_THREADS=1``);
- ``workers``: ``--workers 2``: two ranks of torch.distributed (gloo), one thread each.

For each: wall-clock seconds, CPU seconds (user + system of the processes), the load
averages before and after; then the speed-up (wall of ``one`` / wall of ``workers``) and
whether the two runs wrote identical per-sample records and the same adversarial-examples
file (its sha256). Both walls include starting Python, loading the model and the data,
and the gradient-masking checks, which rank 0 runs alone after the cascade.

Run from the project root with the shared data (``$ADVKIT_SHARED_DATA`` or
``../shared/data``):

    .venv/bin/python benchmarks/bench_distributed.py --out benchmarks/distributed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from advkit.models import shared_data_dir
from bench_support import timed_cli

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="quick", help="the suite (default quick)")
    parser.add_argument("--n", type=int, default=256, help="MNIST test images (256)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per batch (32)")
    parser.add_argument("--workers", type=int, default=2, help="processes (2)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("needs the shared data: set ADVKIT_SHARED_DATA or provide ../shared/data")
    common = ["evaluate", "--model", "lenet5-pgd", "--dataset", "mnist", "--eps", "0.3"]
    common += ["--data-dir", str(shared / "datasets" / "mnist"), "--n", str(args.n)]
    common += ["--suite", args.suite, "--batch-size", str(args.batch_size), "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = os.environ | {
            "ADVKIT_SHARED_DATA": str(shared),
            "ADVKIT_CACHE": str(work / "cache"),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        runs = {
            "one": timed_cli([*common, "--out", "one.json"], env, work),
            "workers": timed_cli(
                [*common, "--out", "workers.json", "--workers", str(args.workers)], env, work
            ),
        }
        for run in runs.values():
            del run["output"]  # quiet runs: nothing worth keeping
        one, two = (json.loads((work / f"{name}.json").read_text()) for name in runs)
    result = {
        "command": " ".join(["benchmarks/bench_distributed.py", *(argv or sys.argv[1:])]),
        "machine": {
            "cpus_visible": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "runs": runs,
        "speed_up": runs["one"]["wall_s"] / runs["workers"]["wall_s"],
        "identical_records": one["samples"] == two["samples"],
        "identical_examples": one["adversarial_examples"] == two["adversarial_examples"],
        "robust_accuracy": [one["robust_accuracy"], two["robust_accuracy"]],
        "clean_accuracy": one["clean_accuracy"],
        "masking": [flag["check"] for flag in one["masking"]],
    }
    for name, r in runs.items():
        print(f"{name:>8}: wall {r['wall_s']:6.1f} s  cpu {r['cpu_s']:6.1f} s  ({r['command']})")
    keys = ("speed_up", "identical_records", "identical_examples", "robust_accuracy")
    print(json.dumps({k: result[k] for k in keys}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
