"""``advkit train``: train a classifier with a robust-training method and save its weights.

Writes a state dict (loadable with ``torch.load(..., weights_only=True)`` and by
``advkit evaluate --model <factory> --checkpoint <file>``), a resumable checkpoint beside
it (``--resume`` continues an interrupted run) and the per-epoch history as JSON.

Examples:
    advkit train --method pgd --eps 0.1 --epochs 20 --out results/digits-pgd.pt
    advkit train --certified crown-ibp --eps 0.1 --epochs 20 --out results/digits-crown-ibp.pt
    advkit train --method fast --dataset fashion-mnist --data-dir ~/fmnist --eps 0.1 \\
        --arch kw-small --epochs 10 --out results/fmnist-fast.pt
    torchrun --nproc-per-node 4 -m advkit train --method pgd --eps 0.1 --batch-size 256 \\
        --out results/digits-pgd.pt   # DistributedDataParallel over 4 processes
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advkit.cli.common import THREATS, add_data_dir, load_data, number
from advkit.cli.device import add_device, to_device
from advkit.cli.errors import UsageError
from advkit.cli.json_text import to_json, write_json
from advkit.cli.outputs import Output, atomic_write, check_outputs
from advkit.data import DATASETS
from advkit.defenses.certified import BOUNDS, CertifiedTraining
from advkit.defenses.regularizers import Distillation, GradientNorm
from advkit.defenses.trainer import train
from advkit.defenses.training import (
    TRADES,
    FastFGSM,
    FGSMTraining,
    MinimalDistortionTraining,
    PGDTraining,
    Standard,
    TrainingMethod,
)
from advkit.demo import digits_cnn
from advkit.distributed import quiet_unless_main, world
from advkit.engine.rng import mix, stream
from advkit.models.architectures import kw_small, lenet5

__all__ = ["ARCHITECTURES", "METHODS", "register", "run"]

METHODS: dict[str, tuple[Callable[[argparse.Namespace], TrainingMethod], str]] = {
    "standard": (lambda a: Standard(), "cross-entropy on clean inputs"),
    "fgsm": (lambda a: FGSMTraining(), "clean + FGSM mix, Goodfellow et al. 2015"),
    "pgd": (lambda a: PGDTraining(steps=a.steps), "PGD-k adversarial training, Madry et al."),
    "fast": (lambda a: FastFGSM(), "FGSM from a random start, Wong, Rice & Kolter 2020"),
    "gradnorm": (
        lambda a: GradientNorm(lam=a.lam),
        "CE + λ·‖∇ₓℓ‖ (dual norm), Finlay & Oberman 2019",
    ),
    "distill": (
        lambda a: Distillation(temperature=a.temperature),
        "cross-entropy at temperature T (the distillation teacher), Papernot et al. 2016",
    ),
    "joint": (
        lambda a: MinimalDistortionTraining(),
        "clean + C&W + EAD-L1 minimal-distortion examples, Sharma 2018 Table 7",
    ),
    "trades": (
        lambda a: TRADES(beta=a.beta, steps=a.steps),
        "clean CE + β·KL to the worst point, Zhang et al. 2019",
    ),
}

ARCHITECTURES: dict[str, tuple[Callable[[int, int], nn.Module], str]] = {
    "digits-cnn": (lambda c, s: digits_cnn(), "the demo CNN for 1×8×8 digits"),
    "kw-small": (kw_small, "two strided convs + two linear layers (Wong & Kolter)"),
    "lenet5": (lambda c, s: lenet5(), "LeNet5 for 1×28×28 (advertorch's layout)"),
}


def register(sub: Any) -> None:
    """Add the ``train`` subcommand to the subparsers ``sub``."""
    p = sub.add_parser("train", help="train a classifier (standard or adversarial training)")
    p.add_argument("--method", choices=sorted(METHODS), help="default: pgd")
    p.add_argument(
        "--certified",
        choices=BOUNDS,
        help="certified training (IBP, Gowal et al. 2018; CROWN-IBP, Zhang et al. 2020) "
        "instead of --method; logs IBP/CROWN certified accuracy every epoch",
    )
    p.add_argument("--kappa", type=float, default=0.5, help="certified: final clean-loss weight κ")
    p.add_argument(
        "--warmup", type=float, help="certified: natural epochs before the ε ramp (10%%)"
    )
    p.add_argument("--ramp", type=float, help="certified: epochs of the ε/κ ramp (40%%)")
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    add_data_dir(p)
    p.add_argument(
        "--n",
        "--train-n",
        type=int,
        help="train on the first N training samples only (spell it --train-n under torchrun, "
        "whose own options make --n ambiguous)",
    )
    p.add_argument("--eval-n", type=int, default=200, help="test samples for the monitor")
    p.add_argument(
        "--arch", choices=sorted(ARCHITECTURES), help="default: digits-cnn / kw-small by size"
    )
    p.add_argument("--norm", default="linf", choices=sorted(THREATS))
    p.add_argument("--eps", type=number, default=0.1, help="training radius (default 0.1)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--steps", type=int, default=7, help="inner steps for pgd/trades")
    p.add_argument("--beta", type=float, default=6.0, help="TRADES β")
    p.add_argument("--lam", type=float, default=0.1, help="gradnorm λ")
    p.add_argument("--temperature", type=float, default=20.0, help="distill T")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    p.add_argument("--out", default="results/model.pt", help="state dict to write")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log messages")
    p.add_argument("--json", action="store_true", help="print the history as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train, write the state dict, the checkpoint and the history; print a summary."""
    if args.certified is not None and args.method is not None:
        raise ValueError("give either --method or --certified, not both")
    if math.isinf(args.eps):
        raise UsageError(
            "--eps inf: training and its PGD-10 monitor need a finite radius; give one "
            "(e.g. --eps 0.1)"
        )
    out = Path(args.out)
    check_outputs(
        [
            Output("--out", out, "weights", (".pt", ".pth")),
            Output("--out", out.with_suffix(".ckpt"), "resumable checkpoint"),
            Output("--out", out.with_suffix(".json"), "training history"),
        ]
    )
    x, y = load_data(args, args.dataset, "train", args.n)
    xt, yt = load_data(args, args.dataset, "test", args.eval_n, "--eval-n")
    arch, model = _model(args, x.shape[1], x.shape[2])
    x, y, xt, yt = to_device(args, model, x, y, xt, yt)
    name, method = _method(args)
    rank = world()[0]  # under torchrun (its group joined by the CLI): DDP over the ranks
    with quiet_unless_main():
        history = train(
            model,
            (x, y),
            method,
            THREATS[args.norm](args.eps),
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            eval_data=(xt, yt),
            checkpoint=out.with_suffix(".ckpt"),
            resume=args.resume,
            progress=not args.quiet and rank == 0,
        )
    if rank > 0:  # process 0 writes the outputs and prints the summary
        return history
    state = {k: v.cpu() for k, v in model.state_dict().items()}  # loadable anywhere
    atomic_write(out, lambda tmp: torch.save(state, tmp))
    record = {
        "method": name,
        "dataset": args.dataset,
        "arch": arch,
        "threat": f"{args.norm} eps={args.eps}",
        "seed": args.seed,
        "n_train": int(x.shape[0]),
        "n_eval": int(xt.shape[0]),
        "history": history,
    }
    write_json(out.with_suffix(".json"), record)
    if args.json:
        print(to_json(record))
    else:
        print(f"method {name}  dataset {args.dataset}  arch {arch}  {record['threat']}")
        print(_history_table(history, args.eps))
        print(f"\nweights written to {out} (checkpoint {out.with_suffix('.ckpt')})")
    return history


def _model(args: argparse.Namespace, channels: int, size: int) -> tuple[str, nn.Module]:
    """The architecture's name and a fresh model, initialized from ``--seed``."""
    arch = args.arch or ("digits-cnn" if size == 8 else "kw-small")
    if (arch == "digits-cnn" and size != 8) or (arch == "lenet5" and (channels, size) != (1, 28)):
        raise ValueError(f"--arch {arch} does not fit {channels}×{size}×{size} inputs")
    # layers initialize from the global RNG (their constructors take no generator): fork
    # it and seed it from the named stream, leaving the caller's RNG untouched
    with torch.random.fork_rng():
        torch.manual_seed(mix(args.seed, stream("model-init")))
        return arch, ARCHITECTURES[arch][0](channels, size)


def _method(args: argparse.Namespace) -> tuple[str, TrainingMethod]:
    """The training method's name and configuration from ``--method`` or ``--certified``."""
    if args.certified is not None:
        certified = CertifiedTraining(
            args.certified, kappa_final=args.kappa, warmup=args.warmup, ramp=args.ramp
        )
        return f"certified-{args.certified}", certified
    name = args.method or "pgd"
    return name, METHODS[name][0](args)


def _history_table(history: list[dict[str, Any]], eps: float) -> str:
    """One line per epoch: loss, accuracies, time (and certified accuracy when logged)."""
    cert = bool(history) and "certified_accuracy" in history[0]
    lines = [
        "epoch   loss     clean   robust(PGD-10)   seconds"
        + ("   ε now   certified (IBP / CROWN / either)" if cert else "")
    ]
    for h in history:
        line = (
            f"{h['epoch']:5d}  {h['loss']:6.3f}  {100 * h['clean_accuracy']:6.2f}%  "
            f"{100 * h['robust_accuracy']:6.2f}%          {h['seconds']:6.1f}"
        )
        if cert:
            line += (
                f"   {h.get('eps_scale', 1.0) * eps:.3f}   "
                f"{100 * h['ibp_certified_accuracy']:6.2f}% / "
                f"{100 * h['crown_certified_accuracy']:6.2f}% / "
                f"{100 * h['certified_accuracy']:6.2f}%"
            )
        lines.append(line)
    return "\n".join(lines)
