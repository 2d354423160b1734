"""advkit on an accelerator: PGD against the forward+backward floor, and the standard suite.

On a CIFAR-10 ResNet-18 (11 M parameters, the size robustness papers use; random weights
with a fixed seed: this measures cost, not robustness, so every image is labelled with the
model's own prediction and every image is attacked) and, when the shared data folder is
present, on the registry's trained ``resnet2b-cifar`` with real CIFAR-10 test images (the
shared folder holds the first 100):

- the forward+backward floor: one forward and one input-gradient backward of the batch,
  median of ``--repeats`` timed runs after warm-up (synchronized on CUDA);
- PGD (50 steps, one restart, L∞ 8/255) on the batch and its ratio to 50 × the floor;
- the ``standard`` suite (APGD-CE → APGD-T → FAB-T → Square 5000) at L∞ 8/255, its wall
  time and robust accuracy, in fp32 and under bf16 autocast (``precision="bf16"``:
  the model's arithmetic in bf16, projections, bookkeeping and the success re-check in
  fp32).

Usage (GPU machine):
    ADVKIT_SHARED_DATA=/path/to/shared/data python benchmarks/bench_gpu.py --device cuda \\
        --out benchmarks/gpu.json
Smoke run anywhere (tiny sizes, numbers meaningless):
    python benchmarks/bench_gpu.py --device cpu --n 8 --repeats 1 --suite quick \\
        --out /tmp/gpu_smoke.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import advkit
from advkit.attacks import PGD
from advkit.models import load_model, shared_data_dir
from bench_support import shared_data

EPS = 8 / 255


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(out)) + self.skip(x))


def resnet18(classes: int = 10) -> nn.Module:
    """ResNet-18 for 32×32 inputs (He et al. 2016; the CIFAR variant of Madry et al.)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(run: Callable[[], Any], device: torch.device, repeats: int) -> float:
    run()  # warm-up (kernels, allocator)
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _floor(model: nn.Module, x: Tensor) -> None:
    xr = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xr).sum(), xr)
    grad.sum().item()


def _timed(run: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    _sync(device)
    start = time.perf_counter()
    out = run()
    _sync(device)
    return out, time.perf_counter() - start


def _case(
    name: str, model: nn.Module, x: Tensor, y: Tensor, args: argparse.Namespace
) -> dict[str, Any]:
    device = x.device
    floor = _median_seconds(lambda: _floor(model, x), device, args.repeats)
    pgd = PGD(steps=50, restarts=1)
    res, t_pgd = _timed(lambda: advkit.attack(model, x, y, advkit.Linf(EPS), pgd), device)
    row: dict[str, Any] = {
        "model": name,
        "n": len(x),
        "forward_backward_s": floor,
        "pgd50_s": t_pgd,
        "pgd50_ratio_to_floor": t_pgd / (50 * floor),
        "pgd50_success": float(res.success.float().mean()),
    }
    for precision in ("fp32", "bf16"):
        ev, secs = _timed(
            lambda p=precision: advkit.evaluate(
                model, (x, y), advkit.Linf(EPS), args.suite, precision=p
            ),
            device,
        )
        row[f"{args.suite}_{precision}_s"] = secs
        row[f"{args.suite}_{precision}_robust"] = float(ev.robust_accuracy)
    print(json.dumps(row), flush=True)
    return row


def _cases(device: torch.device, n: int) -> list[tuple[str, nn.Module, Tensor, Tensor]]:
    torch.manual_seed(0)
    net = resnet18().eval().to(device)
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        y = net(x).argmax(1)
    out = [("resnet18 (random weights)", net, x, y)]
    shared = shared_data_dir()
    if shared is not None:
        xc, yc = shared_data(shared, "resnet2b-cifar", n)
        model = load_model("resnet2b-cifar").eval().to(device)
        out.append(("resnet2b-cifar", model, xc.to(device), yc.to(device)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--out", default="benchmarks/gpu.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    rows = [_case(*case, args) for case in _cases(device, args.n)]
    result = {"device": name, "torch": torch.__version__, "suite": args.suite, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
