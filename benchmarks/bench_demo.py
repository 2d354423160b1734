"""How long ``make demo`` takes: ``advkit evaluate`` on the built-in digits CNN.

Three runs of the demo's command, each a fresh process as a user's would be:

- ``first``: an empty cache, so the demo model is trained first (what a new user meets
  after setup);
- ``cached``: the model loaded from the cache, the per-sample store discarded (``--fresh``);
- ``resumed``: the same command again, every batch read back from the store;

and, with ``--full``, the full evaluation the demo prints (``--suite standard``). For each:
wall-clock seconds and the CPU seconds (user + system) of the process, from
``resource.getrusage(RUSAGE_CHILDREN)``: on a machine shared with other jobs the CPU time
is the stable number, and a run whose CPU time is ≤ ~50 s meets a minute on a quiet
2-core machine. Load averages are recorded before and after.

Run from the project root (no shared data needed; everything is written below a
temporary folder):

    .venv/bin/python benchmarks/bench_demo.py --full --out benchmarks/demo.json
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

from bench_support import timed_cli


def summary(path: Path) -> dict[str, Any]:
    """What the run reported: suite, samples, accuracies, curve, who broke what, flags."""
    res = json.loads(path.read_text())
    keys = ("suite", "n", "eps", "clean_accuracy", "robust_accuracy", "curve", "broken_by")
    return {k: res[k] for k in keys} | {"masking": [f["check"] for f in res["masking"]]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also time --suite standard")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    src = Path(__file__).resolve().parents[1] / "src"
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = os.environ | {
            "ADVKIT_CACHE": str(work / "cache"),
            "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
        }
        demo = ["evaluate", "--out", "results/demo.json", "--quiet"]
        runs["first"] = timed_cli(demo, env, work)
        runs["cached"] = timed_cli([*demo, "--fresh"], env, work)
        runs["resumed"] = timed_cli(demo, env, work)
        runs["first"]["result"] = summary(work / "results" / "demo.json")
        if args.full:
            full = ["evaluate", "--suite", "standard", "--out", "results/demo-standard.json"]
            runs["full"] = timed_cli([*full, "--quiet"], env, work)
            runs["full"]["result"] = summary(work / "results" / "demo-standard.json")
    result = {
        "command": " ".join(["benchmarks/bench_demo.py", *(argv or sys.argv[1:])]),
        "machine": {
            "cpus_visible": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "runs": runs,
    }
    for name, r in runs.items():
        print(f"{name:>8}: wall {r['wall_s']:6.1f} s  cpu {r['cpu_s']:6.1f} s  ({r['command']})")
    print(runs["first"]["output"])
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
