"""Training on minimal-distortion examples: the shape of Sharma's Table 7 (MNIST).

Trains advkit's KW-small CNN on MNIST images four times with the
same seed: standard training, and :class:`advkit.MinimalDistortionTraining` with EAD
(L1 rule) examples, with C&W L2 examples, and with both (the thesis's joint training).
Then attacks each model on held-out images with C&W L2 and EAD (L1 rule) towards a
random wrong target ("average case") and reports the attack success rate and the mean
L1 / L2 / L∞ distortion of the successful examples. Training on these examples should
raise every distortion (Sharma 2018, Table 7).

The thesis augments the full training set once with 9,000 examples crafted on a fixed
network; advkit's training method crafts them on the current model for every batch
(short C&W / EAD runs), which is the adversarial-training form of the same idea.

Example:
    python benchmarks/bench_joint.py --train-n 5000 --epochs 2 --test-n 100 \\
        --out benchmarks/joint.json
    python benchmarks/bench_joint.py --methods "C&W,EAD + C&W" --out benchmarks/joint_cw.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

import advkit
from advkit import CW, EAD, L2, MinimalDistortionTraining
from advkit.data import load_dataset
from advkit.distortion import distortion_report
from advkit.models.architectures import kw_small

_CW_TRAIN, _EAD_TRAIN = MinimalDistortionTraining().attacks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = Path(os.environ.get("ADVKIT_SHARED_DATA", "../shared/data"))
    p.add_argument("--data-dir", default=str(default_dir / "datasets" / "mnist"))
    p.add_argument("--train-n", type=int, default=5000)
    p.add_argument("--test-n", type=int, default=100)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--methods", default="none,EAD,C&W,EAD + C&W", help="comma-separated")
    p.add_argument("--out", default="benchmarks/joint.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    # The offline MNIST copy has no training images: train on the first train_n test
    # images and attack the last test_n, which training never sees.
    xs, ys = load_dataset("mnist", split="test", data_dir=args.data_dir)
    if args.train_n + args.test_n > xs.shape[0]:
        raise ValueError(f"train_n + test_n must be at most {xs.shape[0]}")
    x, y = xs[: args.train_n], ys[: args.train_n]
    xt, yt = xs[-args.test_n :], ys[-args.test_n :]
    gen = torch.Generator().manual_seed(0)
    target = (yt + torch.randint(1, 10, yt.shape, generator=gen)) % 10
    methods: dict[str, Any] = {
        "none": advkit.Standard(),
        "EAD": MinimalDistortionTraining(attacks=(_EAD_TRAIN,)),
        "C&W": MinimalDistortionTraining(attacks=(_CW_TRAIN,)),
        "EAD + C&W": MinimalDistortionTraining(),
    }
    attacks = {"C&W (L2)": CW(), "EAD (L1 rule)": EAD(rule="l1")}
    rows = []
    for name in args.methods.split(","):
        method = methods[name]
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = kw_small(1, 28)
        t0 = time.perf_counter()
        advkit.train(
            model, (x, y), method, None, epochs=args.epochs, batch_size=128, progress=False
        )
        train_s = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            clean = float((model(xt).argmax(1) == yt).float().mean())
        for attack_name, attack in attacks.items():
            t0 = time.perf_counter()
            res = advkit.attack(model, xt, yt, L2(math.inf), attack, target=target)
            rep = distortion_report(res)
            rows.append(
                {
                    "attack": attack_name,
                    "training": name,
                    "clean_accuracy": clean,
                    "asr": rep.success_rate,
                    "l1": rep.mean["l1"],
                    "l2": rep.mean["l2"],
                    "linf": rep.mean["linf"],
                    "train_seconds": train_s,
                    "attack_seconds": time.perf_counter() - t0,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "args": vars(args),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "training_attacks": [repr(_CW_TRAIN), repr(_EAD_TRAIN)],
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
