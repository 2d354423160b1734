"""ZOO-Adam: advkit against ART's ``ZooAttack`` on identical work (natural LeNet5, MNIST).

Both attacks run untargeted ZOO-Adam on the same test images with the same schedule:
B = 128 coordinates per iteration, uniform coordinate sampling, no attack-space
reduction, h = 1e-4, η = 0.01, ``--steps`` iterations for each of ``--search-steps``
values of c from 0.01, no early abort (so both run every iteration and the wall-time
ratio compares identical work; ART's abort test and advkit's patience differ), κ = 0,
and the ZOO loss on log-probabilities (ART is handed the model followed by
``log_softmax``, since its loss reads the classifier's outputs). Model rows are
counted by a wrapper around the network for both, so "rows" is what each attack
really evaluated. ART is never an advkit dependency; run
with it on ``PYTHONPATH`` (``pip install --target DIR adversarial-robustness-toolbox six``).

Usage:
    PYTHONPATH=/tmp/artpkgs python benchmarks/bench_zoo_art.py --n 5 --steps 100 \\
        --search-steps 4 --out benchmarks/zoo_art.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import advkit
from advkit.data import load_dataset
from advkit.models import load_model


class Counted(nn.Module):
    """The network, counting the rows it evaluates; ``log_probs`` appends log_softmax."""

    def __init__(self, net: nn.Module, log_probs: bool = False) -> None:
        super().__init__()
        self.net, self.log_probs, self.rows = net, log_probs, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        z = self.net(x)
        return torch.log_softmax(z, dim=1) if self.log_probs else z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--search-steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/zoo_art.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shared = Path(os.environ.get("ADVKIT_SHARED_DATA", "../shared/data"))
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=args.n)
    net = load_model("lenet5-natural").eval()
    rows = {}

    mine = Counted(net).eval()
    zoo = advkit.ZOO(
        steps=args.steps,
        search_steps=args.search_steps,
        initial_const=0.01,
        patience=args.steps + 1,  # never aborts a round early
    )
    t = time.perf_counter()
    res = advkit.attack(advkit.ScoreOnly(mine), x, y, advkit.L2(float("inf")), zoo)
    sec = time.perf_counter() - t
    ok = res.success
    rows["advkit ZOO-Adam (all images batched)"] = {
        "success": float(ok.float().mean()),
        "mean_l2": float(res.distance[ok].mean()) if ok.any() else None,
        "rows": mine.rows,
        "seconds": sec,
    }
    print(json.dumps(rows), flush=True)

    from art.attacks.evasion import ZooAttack
    from art.estimators.classification import PyTorchClassifier

    theirs = Counted(net, log_probs=True).eval()
    clf = PyTorchClassifier(
        theirs, loss=nn.CrossEntropyLoss(), input_shape=(1, 28, 28), nb_classes=10,
        clip_values=(0.0, 1.0),
    )  # fmt: skip
    art = ZooAttack(
        clf,
        confidence=0.0,
        targeted=False,
        learning_rate=0.01,
        max_iter=args.steps,
        binary_search_steps=args.search_steps,
        initial_const=0.01,
        abort_early=False,
        use_resize=False,
        use_importance=False,
        nb_parallel=128,
        batch_size=1,
        variable_h=1e-4,
        verbose=False,
    )
    t = time.perf_counter()
    x_art = torch.from_numpy(art.generate(x=x.numpy(), y=np.eye(10)[y.numpy()]))
    sec = time.perf_counter() - t
    with torch.no_grad():
        ok = net(x_art).argmax(1) != y
    l2 = (x_art - x).flatten(1).norm(dim=1)
    rows["ART ZooAttack (one image at a time)"] = {
        "success": float(ok.float().mean()),
        "mean_l2": float(l2[ok].mean()) if ok.any() else None,
        "rows": theirs.rows,
        "seconds": sec,
    }
    ratio = rows["ART ZooAttack (one image at a time)"]["seconds"] / max(
        rows["advkit ZOO-Adam (all images batched)"]["seconds"], 1e-9
    )
    result = {"args": vars(args), "rows": rows, "art_seconds_over_advkit": ratio}
    print(json.dumps(result, indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
