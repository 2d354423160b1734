"""Peak memory of ``advkit evaluate`` on a folder of images vs the number of samples.

For each size of ``--sizes`` a synthetic folder of 32×32 RGB PNG images (10 class
folders, :mod:`bench_data_memory`'s images) is evaluated by a fresh
``python -m advkit evaluate`` process: a fixed random linear classifier
(:func:`rgb_linear`), ``--suite fast --eps 0.03``, batch 256, on the CPU, once with
``--save-adv none`` and once with the default ``--save-adv broken`` (every broken
sample's example written beside the results and re-verified). The process reports its
own peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``).
With ``--baseline SRC`` the same command also runs on another checkout's sources (e.g.
a worktree of the commit before ``evaluate`` read its samples a batch at a time), for the
ratio in the same run.

Usage:
    PYTHONPATH=src:benchmarks python benchmarks/bench_evaluate_memory.py \\
        --baseline /tmp/before/src --out benchmarks/evaluate_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench_data_memory import _grow, _pngs

HERE = Path(__file__).resolve().parent


def rgb_linear() -> nn.Module:
    """A fixed random linear classifier of 3×32×32 images into 10 classes."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).eval()


def _evaluate(root: Path, n: int, src: Path, out: Path, save_adv: str) -> dict[str, Any]:
    """Peak memory and wall time of one ``advkit evaluate`` process on ``n`` samples."""
    command = [sys.executable, "-c", _CHILD, str(root), str(n), str(out), save_adv]
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    row["wall_s"] = round(time.perf_counter() - start, 1)
    results = json.loads(out.read_text())
    row["robust_accuracy"] = results["robust_accuracy"]
    row["examples"] = (results.get("adversarial_examples") or {}).get("count", 0)
    return row


_CHILD = """
import json, resource, sys
from advkit.cli import main
root, n, out, save_adv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
code = main(["evaluate", "--model", "bench_evaluate_memory:rgb_linear", "--dataset", "folder",
             "--data-dir", root, "--n", n, "--eps", "0.03", "--suite", "fast", "--device", "cpu",
             "--save-adv", save_adv, "--fresh", "--quiet", "--json", "--out", out])
print(json.dumps({"exit": code,
                  "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--baseline", help="another checkout's src folder to compare with")
    parser.add_argument("--out", default="benchmarks/evaluate_memory.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    images = _pngs(500)
    sources = {"batch by batch": HERE.parent / "src"}
    if args.baseline:
        sources["baseline"] = Path(args.baseline).resolve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root, have = Path(tmp) / "images", 0
        root.mkdir()
        for size in sizes:
            _grow(root, have, size, images)
            have = size
            for save_adv in ("none", "broken"):
                for label, src in sources.items():
                    row = {"images": size, "save_adv": save_adv, "code": label}
                    row.update(_evaluate(root, size, src, Path(tmp) / "ev.json", save_adv))
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "load_average": os.getloadavg(),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
