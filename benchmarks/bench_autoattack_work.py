"""How much model work the reference AutoAttack and advkit's ``standard`` each do.

Both run on the same images (as in :mod:`bench_autoattack`) through a wrapper that counts
the rows of every forward pass, split into passes with autograd on (a forward that a
backward follows) and off (forward-only queries). Reported per set: the rows each library
pushed through the model, its CPU seconds, and CPU microseconds per row. When both do
about the same work per row, the ratio of their times is the ratio of their rows: this
is what bounds the wall-time ratio the two can reach on the same attack list.

    ADVKIT_SHARED_DATA=../shared/data PYTHONPATH=src $PEERS_VENV/bin/python \\
        benchmarks/bench_autoattack_work.py --sets lenet5-pgd:0.3:50 --out work.json

Needs the shared data folder and the reference package (``pyautoattack``) in the
benchmark's own venv, as :mod:`bench_autoattack`.
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advkit.models import shared_data_dir
from bench_autoattack import _advkit, _problem, _reference, _timed


class PassCounter(nn.Module):
    """``model`` that counts the rows of its forward passes, with and without autograd,
    and of the backward passes through it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows = {"with_grad": 0, "no_grad": 0, "backward": 0}

    def forward(self, x: Tensor) -> Tensor:
        grad = torch.is_grad_enabled()
        self.rows["with_grad" if grad else "no_grad"] += x.shape[0]
        out = self.model(x)
        return _CountBackward.apply(out, self.rows) if grad and out.requires_grad else out


class _CountBackward(torch.autograd.Function):
    """The identity, counting the rows its backward pass carries."""

    @staticmethod
    def forward(ctx: Any, out: Tensor, rows: dict[str, int]) -> Tensor:
        ctx.rows = rows
        return out.view_as(out)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        ctx.rows["backward"] += grad.shape[0]
        return grad, None


def work(spec: str, shared: Path) -> dict[str, Any]:
    """Rows and CPU seconds of each library on the set ``model:eps:n``."""
    name, eps_text, n_text = spec.split(":")
    eps = float(Fraction(eps_text))
    model, x, y = _problem(name, n_text, shared)
    row: dict[str, Any] = {"set": spec}
    for label, run in (("autoattack", _reference), ("advkit", _advkit)):
        counted = PassCounter(model).eval()
        out, wall, cpu = _timed(lambda run=run, counted=counted: run(counted, x, y, eps))
        robust = out if isinstance(out, list) else [r.robust for r in out.samples[eps]]
        rows = counted.rows["with_grad"] + counted.rows["no_grad"]
        row[label] = {
            **counted.rows,
            "robust": sum(robust),
            "cpu_s": round(cpu, 1),
            "wall_s": round(wall, 1),
            "cpu_us_per_row": round(1e6 * cpu / max(rows, 1), 1),
        }
    ours, ref = row["advkit"], row["autoattack"]
    row["ratio_advkit_over_autoattack"] = {
        "rows_with_grad": ours["with_grad"] / max(ref["with_grad"], 1),
        "rows_backward": ours["backward"] / max(ref["backward"], 1),
        "rows_no_grad": ours["no_grad"] / max(ref["no_grad"], 1),
        "cpu": ours["cpu_s"] / max(ref["cpu_s"], 1e-9),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["lenet5-pgd:0.3:50"])
    parser.add_argument("--out", default="benchmarks/autoattack_work.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("shared data not found: set ADVKIT_SHARED_DATA")
    rows = [work(spec, shared) for spec in args.sets]
    result = {"command": " ".join(["python", *sys.argv]), "torch": torch.__version__}
    Path(args.out).write_text(json.dumps({**result, "sets": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
