"""FGSM next to the peer libraries: wall time of one call against the pass floor.

advkit's FGSM (``FGM`` under an L∞ threat) and the FGSM of torchattacks, Foolbox and ART
on the same model and batch: ``lenet5-pgd`` (advertorch's PGD-trained MNIST LeNet5), the
first 256 MNIST test images, ε = 0.3, one batch. Every call is priced against two floors
measured in the same rounds: one forward+backward pass (``fwd_bwd``: the gradient, the
least any FGSM can do) and one forward+backward plus one forward pass (``fwd_bwd_fwd``:
the gradient and the success of the returned points judged by the model, which advkit's
result carries and a caller of the others computes afterwards). Rounds are interleaved
(floors, then each library, then floors again) and medians reported.

Every library is scored the same way outside the timing: success is the model's label at
the returned point differing from y, over the correctly classified images.

The peers are never advkit dependencies: run it in the separate benchmark environment
of :mod:`bench_peers`, with advkit from the source tree:

    ADVKIT_SHARED_DATA=../shared/data PYTHONPATH=src $PEERS_VENV/bin/python \\
        benchmarks/bench_peers_fgsm.py --threads 1 --out benchmarks/peers_fgsm.json

A peer that cannot be imported is listed under ``missing`` and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import advkit
from advkit.data import load_dataset
from advkit.models import load_model, shared_data_dir
from bench_gradient import fwd, fwd_bwd, machine, pass_seconds

EPS = 0.3

Runner = Callable[[Tensor, Tensor], Tensor]


def advkit_runner(model: nn.Module) -> Runner:
    return lambda x, y: advkit.attack(model, x, y, advkit.Linf(EPS), advkit.FGM()).x_adv


def torchattacks_runner(model: nn.Module) -> Runner:
    import torchattacks

    attack = torchattacks.FGSM(model, eps=EPS)
    return lambda x, y: attack(x, y)


def foolbox_runner(model: nn.Module) -> Runner:
    import foolbox

    fmodel = foolbox.PyTorchModel(model, bounds=(0.0, 1.0))
    attack = foolbox.attacks.LinfFastGradientAttack(random_start=False)
    return lambda x, y: attack(fmodel, x, y, epsilons=EPS)[1]


def art_runner(model: nn.Module) -> Runner:
    from art.attacks.evasion import FastGradientMethod
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 28, 28),
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    attack = FastGradientMethod(classifier, norm="inf", eps=EPS, batch_size=256)

    def run(x: Tensor, y: Tensor) -> Tensor:
        labels = torch.nn.functional.one_hot(y, 10).numpy()  # given: no prediction pass
        return torch.from_numpy(attack.generate(x.numpy(), y=labels))

    return run


LIBRARIES: dict[str, tuple[str, Callable[[nn.Module], Runner]]] = {
    "advkit": ("advkit", advkit_runner),
    "torchattacks": ("torchattacks", torchattacks_runner),
    "foolbox": ("foolbox", foolbox_runner),
    "art": ("art", art_runner),
}


def version(module: str) -> str:
    return str(getattr(sys.modules.get(module), "__version__", "?"))


def fooled(model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor) -> dict[str, Any]:
    """Success over the correctly classified images, and the largest L∞ distance."""
    with torch.no_grad():
        correct = model(x).argmax(1) == y
        wrong = model(x_adv.float()).argmax(1) != y
    return {
        "fooled": int((correct & wrong).sum()),
        "correct": int(correct.sum()),
        "linf_max": float((x_adv.float() - x).abs().max()),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256, help="test images, one batch (256)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per round (5)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None:
        raise SystemExit("needs the shared test data: ../shared/data or $ADVKIT_SHARED_DATA")
    torch.set_num_threads(args.threads)
    model = load_model("lenet5-pgd").eval()
    x, y = load_dataset("mnist", data_dir=data / "datasets" / "mnist")
    x, y = x[: args.n].contiguous(), y[: args.n]
    runners: dict[str, Runner] = {}
    missing: dict[str, str] = {}
    for name, (_, build) in LIBRARIES.items():
        try:
            runners[name] = build(model)
        except ImportError as err:
            missing[name] = str(err)
    scores = {name: fooled(model, x, y, run(x, y)) for name, run in runners.items()}
    times: dict[str, list[float]] = {name: [] for name in [*runners, "fwd_bwd", "fwd"]}
    for _ in range(args.rounds):
        for floor, unit in (("fwd_bwd", fwd_bwd), ("fwd", fwd)):
            times[floor].append(pass_seconds(model, x, y, 1, args.calls, unit))
        for name, run in runners.items():
            walls = []
            for _ in range(args.calls):
                start = time.perf_counter()
                run(x, y)
                walls.append(time.perf_counter() - start)
            times[name].append(statistics.median(walls))
        for floor, unit in (("fwd_bwd", fwd_bwd), ("fwd", fwd)):
            times[floor].append(pass_seconds(model, x, y, 1, args.calls, unit))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    floor, both = median["fwd_bwd"], median["fwd_bwd"] + median["fwd"]
    libraries = {
        name: {
            "version": version(LIBRARIES[name][0]),
            "wall_ms": 1e3 * median[name],
            "ratio_fwd_bwd": median[name] / floor,
            "ratio_fwd_bwd_fwd": median[name] / both,
            "rounds_ms": [1e3 * t for t in times[name]],
        }
        | scores[name]
        for name in runners
    }
    result = {
        "command": " ".join(["benchmarks/bench_peers_fgsm.py", *(argv or sys.argv[1:])]),
        "machine": machine(args.threads),
        "setting": {"model": "lenet5-pgd", "n": args.n, "threat": f"Linf eps={EPS}"},
        "floor_ms": {"fwd_bwd": 1e3 * floor, "fwd": 1e3 * median["fwd"]},
        "libraries": libraries,
        "missing": missing,
    }
    result["machine"]["load_average_at_end"] = os.getloadavg()
    print(f"floor: fwd+bwd {1e3 * floor:.1f} ms, fwd {1e3 * median['fwd']:.1f} ms")
    for name, r in libraries.items():
        print(
            f"{name:>12} {r['version']:>8}: {r['wall_ms']:7.1f} ms  {r['ratio_fwd_bwd']:.2f}x "
            f"fwd+bwd, {r['ratio_fwd_bwd_fwd']:.2f}x fwd+bwd+fwd  fooled {r['fooled']}/"
            f"{r['correct']}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
