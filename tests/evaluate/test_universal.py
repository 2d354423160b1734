"""Universal perturbations: the ball, the targeted variant, and LeNet5 on real MNIST."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from advkit import L1, L2, PGD, DeepFool, Linf
from advkit.data import load_dataset
from advkit.evaluate.universal import UniversalPerturbation, predictions
from advkit.models import load_model
from shared_data import requires_shared_data, shared_path

pytestmark = pytest.mark.usefixtures("single_thread")


def _tiny(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3)).eval()


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    eps=st.floats(0.01, 2.0),
    norm=st.sampled_from(["linf", "l2"]),
    inner=st.sampled_from(["deepfool", "pgd"]),
    batch=st.integers(1, 9),
)
def test_delta_stays_in_the_ball(seed: int, eps: float, norm: str, inner: str, batch: int) -> None:
    threat = Linf(eps) if norm == "linf" else L2(eps)
    method = UniversalPerturbation(
        threat,
        passes=1,
        batch_size=batch,
        seed=seed,
        target_rate=1.0,
        **({"inner": PGD(steps=3)} if inner == "pgd" else {}),
    )
    x = torch.rand(6, 1, 3, 4, generator=torch.Generator().manual_seed(seed))
    u = method.fit(_tiny(seed), x)
    assert float(threat.norm(u.delta)[0]) <= eps * (1 + 1e-5)
    moved = u.apply(x)
    assert bool(((moved >= 0) & (moved <= 1)).all())


def test_targeted_sends_most_inputs_to_the_target_on_a_linear_model() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 4)).eval()
    x = torch.rand(300, 20)
    train, held = x[:100], x[100:]
    u = UniversalPerturbation(Linf(0.5), passes=4, batch_size=10).fit(model, train, target=2)
    rate = u.fooling(model, held, predictions(model, held))
    assert rate.target_rate is not None and rate.target_rate >= 0.9
    assert u.target == 2 and u.train_rates[-1] >= 0.8


def test_refuses_unbounded_or_other_norms() -> None:
    with pytest.raises(ValueError, match="finite"):
        UniversalPerturbation(Linf(math.inf))
    with pytest.raises(ValueError, match="L∞ or L2"):
        UniversalPerturbation(L1(1.0))


@requires_shared_data
def test_natural_lenet5_is_fooled_far_more_than_by_random_noise() -> None:
    """At L∞ 0.2, δ built on 300 test images fools the next 1000 far more than noise.

    The box [0, 1] limits δ on MNIST's black background: at ε = 0.2 a direct optimization
    of one δ over these images fools about 20% of them, so this is the size to expect.
    """
    folder = shared_path("datasets/mnist/t10k-images-idx3-ubyte.gz").parent
    model = load_model("lenet5-natural")
    x, y = load_dataset("mnist", data_dir=folder, limit=1300)
    method = UniversalPerturbation(Linf(0.2), inner=DeepFool(steps=10, candidates=4), passes=3)
    u = method.fit(model, x[:300])
    rate = u.fooling(model, x[300:], y[300:])
    noise = (
        torch.randint(0, 2, u.delta.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ) * 0.2
    clean, moved = predictions(model, x[300:]), predictions(model, (x[300:] + noise).clamp(0, 1))
    noise_rate = float((clean != moved).float().mean())
    assert rate.fooling_rate >= 0.12
    assert rate.fooling_rate >= 5 * noise_rate
    assert rate.misclassification_rate >= rate.fooling_rate - rate.clean_error
