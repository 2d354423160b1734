"""Shared fixtures: tiny models built here, a multiclass linear model with known answers,
and the location of the real datasets and checkpoints (``../shared/data``)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs one worker per core; intra-op threads would only oversubscribe them
    torch.set_num_threads(1)


def shared_data() -> Path | None:
    """The shared real data folder, via ADVKIT_SHARED_DATA or ../shared/data."""
    env = os.environ.get("ADVKIT_SHARED_DATA")
    for cand in (Path(env) if env else None, ROOT.parent / "shared" / "data"):
        if cand is not None and (cand / "README.md").exists():
            return cand
    return None


def require_shared() -> Path:
    path = shared_data()
    if path is None:
        pytest.skip("real data absent: set ADVKIT_SHARED_DATA or provide ../shared/data")
    return path


class TinyCNN(nn.Module):
    """A small conv net on 1×8×8 inputs with 10 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class NoBackward(torch.autograd.Function):
    """Identity whose backward raises: put after a model whose access must stay gradient-free."""

    @staticmethod
    def forward(ctx: object, z: torch.Tensor) -> torch.Tensor:
        return z.clone()

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("backward must never run for score-only or label-only access")


@pytest.fixture
def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture
def tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(12, 1, 8, 8, generator=g), torch.randint(0, 10, (12,), generator=g)


def linear_model(d: int = 20, k: int = 5, seed: int = 0) -> nn.Module:
    """A multiclass linear classifier z = W x + b on flat inputs of size d."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(d, k)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(k, d, generator=g))
        lin.bias.copy_(torch.randn(k, generator=g) * 0.1)
    return nn.Sequential(nn.Flatten(), lin).eval()


def linear_min_distance(model: nn.Module, x: torch.Tensor, p: float) -> torch.Tensor:
    """Exact minimal ℓp distance to the decision boundary of a linear model (box ignored).

    For the predicted class c, the distance to class j's region is
    (z_c − z_j) / ‖w_c − w_j‖_q with q the dual of p; the minimum over j is exact.
    """
    lin = model[1]
    w, b = lin.weight.detach(), lin.bias.detach()
    xf = x.reshape(x.shape[0], -1)
    z = xf @ w.T + b
    c = z.argmax(dim=1)
    q = {float("inf"): 1.0, 2.0: 2.0, 1.0: float("inf")}[p]
    diff = w[c][:, None, :] - w[None, :, :]
    num = z.gather(1, c[:, None]) - z
    den = torch.linalg.vector_norm(diff, ord=q, dim=2)
    dist = num / den.clamp_min(1e-12)
    dist[torch.arange(x.shape[0]), c] = float("inf")
    return dist.min(dim=1).values


def linear_l1_box_distance(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact least ℓ1 distance from each x in [0, 1] to another class's region of the
    linear model ``model`` within the box [0, 1] (inf if the box forbids every class), and
    the class reached at that distance.

    For a class j, min ‖δ‖₁ s.t. aᵀ(x + δ) ≤ −m, 0 ≤ x + δ ≤ 1 (a = w_c − w_j,
    m = b_c − b_j) is a fractional knapsack: the margin is closed cheapest by moving the
    coordinates of largest |a_i| first, each as far as the box lets it (1 − x_i if a_i < 0,
    x_i if a_i > 0); the least over j is the answer.
    """
    lin = model[1]
    w, b = lin.weight.detach().double(), lin.bias.detach().double()
    xf = x.reshape(len(x), -1).double()
    z = xf @ w.T + b
    c = z.argmax(dim=1)
    best = torch.full((len(x),), math.inf, dtype=torch.float64)
    nearest = c.clone()
    for j in range(w.shape[0]):
        a = w[c] - w[j]
        gap = z.gather(1, c[:, None]).squeeze(1) - z[:, j]
        room = torch.where(a > 0, xf, 1 - xf)  # how far each coordinate may move
        gain = a.abs() * room  # margin closed by moving it all the way
        order = a.abs().argsort(dim=1, descending=True)
        a_s, room_s, gain_s = (t.gather(1, order) for t in (a.abs(), room, gain))
        closed_before = gain_s.cumsum(dim=1) - gain_s
        need = (gap[:, None] - closed_before).clamp_min(0)
        moved = torch.minimum(room_s, need / a_s.clamp_min(1e-300))
        reach = gain_s.sum(dim=1) >= gap
        dist = torch.where(reach, moved.sum(dim=1), torch.full_like(gap, math.inf))
        dist[c == j] = math.inf
        closer = dist < best
        best, nearest = torch.where(closer, dist, best), torch.where(closer, j, nearest)
    return best, nearest


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """Run a test module on one intra-op thread, restoring the count afterwards.

    The tiny models of the core tests gain nothing from intra-op parallelism, and on a busy
    machine the thread pool's spin-waits make each small op up to 100× slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CHEAP_STANDARD = {"square": {"queries": 50}, "fab-t": {"steps": 10, "target_classes": 3}}
"""What :func:`cheap_standard` changes in the ``standard`` suite's options, by attack."""


@pytest.fixture
def cheap_standard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``standard`` suite with a 50-query Square attack and FAB-T at 10 steps on 3
    classes (the other options as the suite's): their 5000 queries and 9 × 100 steps on
    every robust point would cost minutes (a FAB-T step costs about four APGD steps); the
    suite's plumbing is what these tests check."""
    from advkit.evaluate import suites

    standard = tuple(
        (name, {**options, **CHEAP_STANDARD.get(name, {})})
        for name, options in suites.SUITES["standard"]
    )
    monkeypatch.setitem(suites.SUITES, "standard", standard)


@pytest.fixture(scope="session", name="chromium")
def chromium_fixture() -> Iterator[Any]:
    """One headless Chromium for the whole session, for the report tests (skipped, saying
    why, where there is none)."""
    from browser import Chromium, chromium_or_skip  # tests/report/browser.py

    with Chromium(chromium_or_skip()) as chromium:
        yield chromium
