"""Attacks on low-precision models and inputs: the attack works in float32, the model sees
its own dtype, and what comes back is exact in the caller's dtype.

For a ``bfloat16``/``float16`` batch the returned ``x_adv`` has the batch's dtype and lies in
the ε-ball and the box as measured in float32 on the returned tensors (no tolerance), the
reported distances are that float32 measurement, and ``success`` is the model's decision on
exactly the returned points.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.objectives import is_successful
from advkit.result import AttackResult
from advkit.threat import ThreatModel
from conftest import TinyCNN

pytestmark = pytest.mark.usefixtures("single_thread")

HALF = [torch.bfloat16, torch.float16]
N = 20


def _setup(dtype: torch.dtype) -> tuple[nn.Module, Tensor, Tensor]:
    """TinyCNN in ``dtype``, a batch it classifies (labels: its own predictions)."""
    torch.manual_seed(0)
    model = TinyCNN().eval().to(dtype)
    x = torch.rand(N, 1, 8, 8, generator=torch.Generator().manual_seed(1)).to(dtype)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def _check_exact(res: AttackResult, model: nn.Module, x: Tensor, threat: ThreatModel) -> None:
    """x_adv of x's dtype in the ball and box (float32 measurement, no tolerance), the
    distances that measurement, success the model's decision on exactly x_adv."""
    assert res.x_adv.dtype == x.dtype and res.x.dtype == x.dtype
    assert torch.equal(res.x, x)
    wide = res.x_adv.float()
    dist = threat.norm(wide - x.float())
    assert bool((dist <= threat.eps).all()), f"outside the ball: {dist.max().item()}"
    assert bool((wide >= threat.lo).all() and (wide <= threat.hi).all())
    assert torch.equal(res.distance, dist)
    delta = (wide - x.float()).flatten(1)
    assert torch.equal(res.distances()["l2"], delta.norm(dim=1))
    assert torch.equal(res.distances()["linf"], delta.abs().amax(dim=1))
    with torch.no_grad():
        logits = model(res.x_adv)
    assert torch.equal(res.success, is_successful(logits, res.y, res.target))


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize(
    ("threat", "method"),
    [
        (advkit.Linf(0.1), advkit.PGD(steps=10)),
        (advkit.L2(0.5), advkit.PGD(steps=10)),
        (advkit.Linf(0.1), advkit.APGD(steps=10)),
        (advkit.L2(0.5), advkit.APGD(steps=10)),
    ],
    ids=["pgd-linf", "pgd-l2", "apgd-linf", "apgd-l2"],
)
def test_fixed_eps_attacks_return_points_inside_the_ball_in_half_precision(
    dtype: torch.dtype, threat: ThreatModel, method: advkit.Attack
) -> None:
    model, x, y = _setup(dtype)
    res = advkit.attack(model, x, y, threat, method)
    _check_exact(res, model, x, threat)
    assert res.success.any()  # the attack did move the points


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize(
    ("threat", "method"),
    [
        (advkit.L2(math.inf), advkit.CW(steps=4, search_steps=2, initial_const=10.0, lr=0.1)),
        (advkit.L2(1.0), advkit.Square(queries=60)),
    ],
    ids=["cw", "square"],
)
def test_l2_attacks_on_half_models_keep_finite_logits(
    dtype: torch.dtype, threat: ThreatModel, method: advkit.Attack
) -> None:
    model, x, y = _setup(dtype)
    res = advkit.attack(model, x, y, threat, method)
    _check_exact(res, model, x, threat)


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_a_float32_batch_attacks_a_half_model_through_its_dtype(dtype: torch.dtype) -> None:
    model, x, y = _setup(dtype)
    x32 = x.float()
    threat = advkit.Linf(0.1)
    res = advkit.attack(model, x32, y, threat, advkit.PGD(steps=10))
    assert res.x_adv.dtype == torch.float32 and res.logits.dtype == torch.float32
    assert bool((res.distance <= 0.1 + 1e-6).all())
    with torch.no_grad():
        seen = model(res.x_adv.to(dtype))  # the decision on the input as the model sees it
    assert torch.equal(res.success, is_successful(seen, y, None))
    assert res.success.any()


def test_float64_batches_are_attacked_in_float64() -> None:
    model, x, y = _setup(torch.float64)
    res = advkit.attack(model, x, y, advkit.L2(0.5), advkit.PGD(steps=5))
    assert res.x_adv.dtype == res.distance.dtype == res.logits.dtype == torch.float64
    assert torch.equal(res.distance, (res.x_adv - x).flatten(1).norm(dim=1))


def test_the_caller_model_and_batch_keep_their_dtype() -> None:
    model, x, y = _setup(torch.bfloat16)
    before = copy.deepcopy(model.state_dict())
    x_before = x.clone()
    advkit.attack(model, x, y, advkit.Linf(0.1), advkit.PGD(steps=3))
    assert all(
        torch.equal(v, before[k]) and v.dtype == torch.bfloat16
        for k, v in model.state_dict().items()
    )
    assert torch.equal(x, x_before) and x.dtype == torch.bfloat16


def test_a_detector_of_a_half_model_scores_in_its_dtype() -> None:
    model, x, y = _setup(torch.bfloat16)
    detector = advkit.GradientNormDetector(model)
    clean = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    detector.calibrate(clean.to(torch.bfloat16))
    method = advkit.EvadeDetector(detector, steps=4, search_steps=2, initial_const=10.0, lr=0.1)
    res = advkit.attack(model, x[:8], y[:8], advkit.L2(math.inf), method)
    assert res.x_adv.dtype == torch.bfloat16 and res.success.any()
