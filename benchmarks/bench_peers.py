"""DeepFool next to the peer libraries: success rate, median L2 and wall time on one set.

advkit's DeepFool and the DeepFool of torchattacks, Foolbox and ART (Adversarial
Robustness Toolbox) with the same settings — L2, 50 steps, overshoot 0.02, the top 10
classes as candidates, box [0, 1] — on the same model and images: ``kw-fashion-0.1``
(Wong & Kolter's certified KW-small on Fashion-MNIST) and the first 64 Fashion-MNIST test
images by default. torchattacks has no candidate limit; with 10 classes every library
considers all of them.

Every library is scored here, the same way, on the points it returns: a correctly
classified image is fooled when the model labels the returned point differently; the
success rate is over correctly classified images, the L2 (median and mean) over fooled
ones, and ``box_violation`` is how far any returned pixel lies outside [0, 1]. Wall time is
the median of ``--repeats`` runs, after one untimed warm-up run of each library.

The peers are never advkit dependencies: they live in a separate benchmark environment,
with advkit taken from the source tree. From the project root:

    PEERS_VENV=../peers-venv  # any folder outside the project
    python3.11 -m venv $PEERS_VENV
    $PEERS_VENV/bin/pip install torch==2.13.0
    $PEERS_VENV/bin/pip install torchattacks foolbox adversarial-robustness-toolbox \\
        numpy scipy scikit-learn tqdm scikit-image pillow matplotlib
    ADVKIT_SHARED_DATA=../shared/data PYTHONPATH=src $PEERS_VENV/bin/python \\
        benchmarks/bench_peers.py --threads 2 --out benchmarks/peers.json

A peer that cannot be imported is listed under ``missing`` with the reason, and the others
still run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import advkit
from advkit.data import load_dataset
from advkit.models import load_model, shared_data_dir
from bench_gradient import machine

Runner = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Settings:
    """What every library is given: DeepFool's settings and the input shape."""

    steps: int
    overshoot: float
    candidates: int
    shape: tuple[int, ...]
    classes: int


def advkit_runner(model: nn.Module, s: Settings) -> Runner:
    attack = advkit.DeepFool(steps=s.steps, overshoot=s.overshoot, candidates=s.candidates)
    return lambda x, y: advkit.attack(model, x, y, advkit.L2(math.inf), attack).x_adv


def torchattacks_runner(model: nn.Module, s: Settings) -> Runner:
    import torchattacks

    attack = torchattacks.DeepFool(model, steps=s.steps, overshoot=s.overshoot)
    return lambda x, y: attack(x, y)


def foolbox_runner(model: nn.Module, s: Settings) -> Runner:
    import foolbox

    fmodel = foolbox.PyTorchModel(model, bounds=(0.0, 1.0))
    attack = foolbox.attacks.L2DeepFoolAttack(
        steps=s.steps, candidates=s.candidates, overshoot=s.overshoot
    )
    return lambda x, y: attack(fmodel, x, y, epsilons=None)[0]


def art_runner(model: nn.Module, s: Settings) -> Runner:
    from art.attacks.evasion import DeepFool
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=s.shape,
        nb_classes=s.classes,
        clip_values=(0.0, 1.0),
    )
    attack = DeepFool(
        classifier,
        max_iter=s.steps,
        epsilon=s.overshoot,
        nb_grads=s.candidates,
        batch_size=1024,
        verbose=False,
    )
    return lambda x, y: torch.from_numpy(attack.generate(x.numpy()))


LIBRARIES: dict[str, tuple[str, Callable[[nn.Module, Settings], Runner]]] = {
    "advkit": ("advkit", advkit_runner),
    "torchattacks": ("torchattacks", torchattacks_runner),
    "foolbox": ("foolbox", foolbox_runner),
    "art": ("art", art_runner),
}


def version(module: str) -> str:
    return str(getattr(sys.modules.get(module), "__version__", "?"))


def score(model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor) -> dict[str, Any]:
    """Success over correctly classified images, L2 over the fooled ones, box violation."""
    with torch.no_grad():
        correct = model(x).argmax(1) == y
        fooled = correct & (model(x_adv).argmax(1) != y)
    l2 = (x_adv - x).flatten(1).norm(dim=1)[fooled]
    below, above = float((-x_adv).max()), float((x_adv - 1).max())
    return {
        "correct": int(correct.sum()),
        "fooled": int(fooled.sum()),
        "success_rate": float(fooled.sum() / correct.sum().clamp_min(1)),
        "median_l2": float(l2.median()) if len(l2) else None,
        "mean_l2": float(l2.mean()) if len(l2) else None,
        "box_violation": max(0.0, below, above),
    }


def measure(
    name: str, runner: Runner, model: nn.Module, x: Tensor, y: Tensor, repeats: int
) -> dict[str, Any]:
    x_adv = runner(x, y).detach().float()  # untimed warm-up; its points are scored
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(x, y)
        times.append(time.perf_counter() - start)
    return {"library": name, **score(model, x, y, x_adv), "wall_s": statistics.median(times)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="kw-fashion-0.1", help="registry model")
    parser.add_argument("--dataset", default="fashion-mnist", help="its test set")
    parser.add_argument("--n", type=int, default=64, help="first test images (64)")
    parser.add_argument("--steps", type=int, default=50, help="DeepFool steps (50)")
    parser.add_argument("--overshoot", type=float, default=0.02, help="overshoot (0.02)")
    parser.add_argument("--candidates", type=int, default=10, help="top-k classes (10)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per library (3)")
    parser.add_argument(
        "--libraries", default=",".join(LIBRARIES), help="comma-separated (all four)"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    data = shared_data_dir()
    if data is None:
        raise SystemExit("needs the shared test data: ../shared/data or $ADVKIT_SHARED_DATA")
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    x, y = load_dataset(args.dataset, data_dir=data / "datasets" / args.dataset, limit=args.n)
    result: dict[str, Any] = {
        "command": " ".join(["benchmarks/bench_peers.py", *(argv or sys.argv[1:])]),
        "machine": machine(args.threads),
        "setting": {k: v for k, v in vars(args).items() if k not in ("out", "threads")},
        "advkit_source": str(Path(advkit.__file__).parent),
        "runs": [],
        "missing": {},
    }
    with torch.no_grad():
        classes = model(x[:1]).shape[1]
    settings = Settings(args.steps, args.overshoot, args.candidates, tuple(x.shape[1:]), classes)
    for name in args.libraries.split(","):
        module, build = LIBRARIES[name]
        try:
            runner = build(model, settings)
        except ImportError as err:
            result["missing"][name] = f"not importable: {err}"
            print(f"{name:>12}: skipped ({err})")
            continue
        run = measure(f"{name} {version(module)}", runner, model, x, y, args.repeats)
        result["runs"].append(run)
        print(
            f"{run['library']:>22}: {run['fooled']}/{run['correct']} fooled "
            f"({100 * run['success_rate']:.1f}%), median L2 {run['median_l2']}, "
            f"mean L2 {run['mean_l2']}, box violation {run['box_violation']:.1e}, "
            f"{run['wall_s']:.2f} s"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
