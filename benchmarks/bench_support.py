"""What several benchmark scripts share: the shared folder's data and timed CLI runs.

The scripts run as ``python benchmarks/bench_x.py``, so this folder is on their path and
``from bench_support import ...`` finds this module.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advkit.data import load_dataset


def shared_data(shared: Path, name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images of ``name``'s dataset in the shared folder: MNIST, or
    CIFAR-10 for a model whose name ends in ``cifar`` (the folder holds its first 100)."""
    if not name.endswith("cifar"):
        return load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=n)
    path = shared / "datasets" / "cifar10-sample" / "first100_test.csv"
    rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)[:n]
    x = torch.from_numpy(rows[:, 1:].reshape(-1, 32, 32, 3)).permute(0, 3, 1, 2)
    return x.float().div(255.0).contiguous(), torch.from_numpy(rows[:, 0].astype(np.int64))


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def uptime() -> str:
    """The ``uptime`` line: how loaded the machine is."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed_cli(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``python -m advkit argv`` in a fresh process (with the processes it launches);
    its wall and CPU seconds, the load around it and its output."""
    before, load = uptime(), os.getloadavg()
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "advkit", *argv], env=env, cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"advkit {' '.join(argv)} failed:\n{done.stderr}")
    return {
        "command": "advkit " + " ".join(argv),
        "wall_s": wall,
        "cpu_s": children_cpu() - cpu,
        "uptime_before": before,
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "output": done.stdout,
    }
