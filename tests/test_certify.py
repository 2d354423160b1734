"""Certifiers: exactness on linear models, soundness against sampling and attacks
(the sandwich), tightness ordering, exact MIP on a real network, published numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import advkit
from advkit import CROWN, IBP, L1, L2, MIP, AlphaCROWN, LinearExact, Linf, cli
from advkit.certify import (
    Smoothing,
    certified_loss,
    linear_min_distance,
    margin_lower_bounds,
    mip_min_distance,
    ramp,
    smoothed_certify,
)
from advkit.objectives import margin
from conftest import linear_min_distance as reference_min_distance
from conftest import linear_model, require_shared

pytestmark = pytest.mark.usefixtures("single_thread")

THREATS = {"linf": Linf, "l2": L2, "l1": L1}
BOUNDERS = [LinearExact(), IBP(), CROWN(), AlphaCROWN(steps=5)]


class Residual(nn.Module):
    """conv → relu → conv, plus a skip connection, then a linear head."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 1, 3, padding=1)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)
        return self.head(h.flatten(1))


def random_net(kind: str, width: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "mlp":
        net: nn.Module = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, 4),
        )
    elif kind == "conv":
        net = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(width * 4, 4),
        )
    else:
        net = Residual(width)
    return net.eval()


@pytest.mark.parametrize("norm", list(THREATS))
@pytest.mark.parametrize("method", BOUNDERS, ids=lambda m: m.name)
def test_linear_models_are_certified_exactly(norm: str, method: object) -> None:
    model = linear_model(d=20, k=5, seed=3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 20, generator=g)
    y = torch.randint(0, 5, (30,), generator=g)
    eps = 0.05
    threat = THREATS[norm](eps, lo=-100.0, hi=100.0)  # box slack: the ball is the set
    res = advkit.certify(model, x, y, threat, method)  # type: ignore[arg-type]
    w, b = model[1].weight.detach(), model[1].bias.detach()
    z = x @ w.T + b
    diff = w[y][:, None, :] - w[None, :, :]
    q = {"linf": 1.0, "l2": 2.0, "l1": math.inf}[norm]
    exact = (z.gather(1, y[:, None]) - z) - eps * torch.linalg.vector_norm(diff, ord=q, dim=2)
    exact[torch.arange(30), y] = math.inf
    torch.testing.assert_close(res.lower, exact.min(1).values, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("norm", list(THREATS))
def test_linear_min_distance_is_exact(norm: str) -> None:
    model = linear_model(d=20, k=5, seed=4)
    x = torch.rand(25, 20, generator=torch.Generator().manual_seed(2))
    threat = THREATS[norm](0.1)
    y = model(x).argmax(1)
    p = {"linf": math.inf, "l2": 2.0, "l1": 1.0}[norm]
    got = linear_min_distance(model, x, y, threat)
    torch.testing.assert_close(got, reference_min_distance(model, x, p), rtol=1e-4, atol=1e-5)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["mlp", "conv", "residual"]),
    norm=st.sampled_from(list(THREATS)),
    width=st.integers(2, 6),
    seed=st.integers(0, 10_000),
    eps=st.floats(0.0, 0.3),
)
def test_sound_against_sampling_and_attacks(
    kind: str, norm: str, width: int, seed: int, eps: float
) -> None:
    """No sampled or attacked point has a margin below any certified lower bound, and
    a sample is never both certified and attacked (invariant 6, the sandwich)."""
    net = random_net(kind, width, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 1, 4, 4, generator=g)
    y = net(x).argmax(1)
    threat = THREATS[norm](eps * (4 if norm == "l1" else 1))
    reps = 64
    xs = threat.sample(
        x.repeat(reps, 1, 1, 1), [torch.Generator().manual_seed(i) for i in range(4 * reps)]
    )
    with torch.no_grad():
        sampled = margin(net(xs), y.repeat(reps)).reshape(reps, 4).min(0).values
    adv = advkit.attack(net, x, y, threat, advkit.APGD(steps=20))
    with torch.no_grad():
        attacked = margin(net(adv.x_adv), y)
    for method in (IBP(), CROWN(), AlphaCROWN(steps=3)):
        res = advkit.certify(net, x, y, threat, method)
        assert (res.lower <= sampled + 1e-4).all(), method
        assert (res.lower <= attacked + 1e-4).all(), method
        assert not (res.certified & adv.success).any(), method


def test_tightness_ordering_against_exact_mip() -> None:
    """α-CROWN ≥ CROWN; every bound ≤ the MIP optimum; IBP vs CROWN is measured."""
    crown_wins = 0
    for seed in range(4):
        net = random_net("mlp", 8, seed)
        x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
        y = net(x).argmax(1)
        threat = Linf(0.08)
        ibp = advkit.certify(net, x, y, threat, IBP()).class_lower
        crown = advkit.certify(net, x, y, threat, CROWN()).class_lower
        alpha = advkit.certify(net, x, y, threat, AlphaCROWN(steps=10)).class_lower
        mip = advkit.certify(net, x, y, threat, MIP(time_limit=20, exact_margins=True))
        assert (alpha >= crown - 1e-5).all()
        exact = mip.lower
        for bound in (ibp, crown, alpha):
            assert (bound.min(1).values <= exact + 1e-4).all()
        crown_wins += int((crown.min(1).values >= ibp.min(1).values - 1e-6).sum())
        # a MIP counterexample is real: misclassified inside the ball
        if mip.attacked.any():
            assert (net(mip.x_adv[mip.attacked]).argmax(1) != y[mip.attacked]).all()
            assert ((mip.x_adv - x).abs().amax() <= 0.08 + 1e-6).all()
    assert crown_wins >= 12  # measured: CROWN is at least as tight on most samples


def test_unsupported_layer_is_named() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU(), nn.Flatten(), nn.Linear(8, 3))
    with pytest.raises(TypeError, match="GELU"):
        advkit.certify(net.eval(), torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), Linf(0.1), CROWN())
    with pytest.raises(TypeError, match="without ReLUs"):
        advkit.certify(
            random_net("mlp", 3, 0),
            torch.rand(2, 1, 4, 4),
            torch.tensor([0, 1]),
            Linf(0.1),
            LinearExact(),
        )
    with pytest.raises(ValueError, match="L2"):
        advkit.certify(
            random_net("mlp", 3, 0), torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), L2(0.1), MIP()
        )


def _mnist(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    root = require_shared()
    from advkit.data import load_dataset

    return load_dataset("mnist", split="test", data_dir=root / "datasets" / "mnist", limit=n)


@pytest.mark.slow
def test_mip_on_toy_mnist_between_crown_and_attack() -> None:
    require_shared()
    model = advkit.models.load_model("toy-mnist-2-20")
    x, y = _mnist(10)
    threat = Linf(0.05)
    crown = advkit.certify(model, x, y, threat, CROWN())
    mip = advkit.certify(model, x, y, threat, MIP(time_limit=30))
    adv = advkit.attack(model, x, y, threat, advkit.APGD())
    with torch.no_grad():
        reached = margin(model(adv.x_adv), y)
    assert (crown.lower <= mip.lower + 1e-4).all()
    assert (mip.lower <= reached + 1e-3).all()
    assert not (mip.certified & adv.success).any()
    # exact: every sample is decided, and the MIP counterexamples verify
    assert (mip.certified | mip.attacked).all()
    assert mip.attacked.sum() >= 3
    assert (model(mip.x_adv[mip.attacked]).argmax(1) != y[mip.attacked]).all()


@pytest.mark.slow
def test_mip_minimal_distance_matches_attacks() -> None:
    require_shared()
    model = advkit.models.load_model("toy-mnist-2-20")
    x, y = _mnist(8)
    x, y = x[7:8], y[7:8]  # correctly classified, broken between ε = 0.02 and 0.05
    dist, x_adv = mip_min_distance(model, x, y, 0.06, time_limit=60)
    d = float(dist[0])
    assert 0.02 < d < 0.05
    assert model(x_adv).argmax(1).item() != y.item()
    assert (x_adv - x).abs().amax().item() <= d + 1e-5
    above = advkit.attack(model, x, y, Linf(d * 1.02), advkit.APGDT())
    below = advkit.attack(model, x, y, Linf(d * 0.98), advkit.APGDT())
    assert above.success.item() and not below.success.item()


@pytest.mark.slow
def test_kw_mnist_crown_certified_error_near_published() -> None:
    """Published: 5.8% certified error at L∞ ε = 0.1 (full test set, dual bound)."""
    require_shared()
    model = advkit.models.load_model("kw-mnist-0.1")
    x, y = _mnist(12)
    res = advkit.certify(model, x, y, Linf(0.1), CROWN(), batch_size=12)
    adv = advkit.attack(model, x, y, Linf(0.1), advkit.APGD(steps=20))
    assert 1 - res.certified_accuracy <= 0.17  # at most 2 of 12 (published: 5.8%)
    assert not (res.certified & adv.success).any()


@pytest.mark.slow
def test_cli_certify_and_evaluate_sandwich(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = require_shared()
    common = ["--model", "toy-mnist-2-20", "--data-dir", str(shared / "datasets" / "mnist")]
    common += ["--eps", "0.05", "--n", "20", "--quiet", "--json"]
    out = tmp_path / "c.json"
    assert cli.main(["certify", *common, "--method", "crown", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert 0.5 < summary["certified_accuracy"] <= summary["clean_accuracy"]
    assert len(json.loads(out.read_text())["samples"]) == 20
    ev_out = tmp_path / "e.json"
    argv = ["evaluate", *common, "--suite", "fast", "--eps-curve", "0.1", "--certify", "crown"]
    assert cli.main([*argv, "--out", str(ev_out)]) == 0
    rows = json.loads(capsys.readouterr().out)["sandwich"]
    assert [r["eps"] for r in rows] == [0.05, 0.1]
    for r in rows:
        assert r["certified_accuracy"] <= r["robust_accuracy"]
        assert r["certified"] + r["attacked"] + r["unknown"] == 20
    assert ev_out.with_suffix(".png").stat().st_size > 1000


def test_randomized_smoothing_radius_on_a_linear_model() -> None:
    """For two classes z = Wx + b the smoothed classifier equals the base one and its exact
    certified radius is the distance to the hyperplane; Cohen's CERTIFY must stay below it
    (with probability ≥ 1 − α) and come close, and abstain on the boundary."""
    model = linear_model(d=20, k=2, seed=5)
    x = torch.rand(12, 20, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        x[0] -= (
            (model(x[:1])[0, 0] - model(x[:1])[0, 1])
            / ((model[1].weight[0] - model[1].weight[1]).norm() ** 2)
            * (model[1].weight[0] - model[1].weight[1])
        )
    dist = linear_min_distance(model, x, model(x).argmax(1), L2(1.0))
    cfg = Smoothing(sigma=0.5, n0=50, n=2000, alpha=0.001)
    res = smoothed_certify(model, x, cfg)
    assert res.prediction[0] == -1 and res.radius[0] == 0
    decided = res.prediction >= 0
    assert (res.prediction[decided] == model(x).argmax(1)[decided]).all()
    assert (res.radius <= dist + 1e-6).all()
    close = decided & (dist < 2 * cfg.sigma)
    assert close.sum() >= 3
    assert (res.radius[close] >= 0.6 * dist[close]).all()
    again = smoothed_certify(model, x, cfg)
    assert torch.equal(again.radius, res.radius)  # keyed noise: reproducible


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[0.2] * 8, [0.5] * 8, [0.8] * 8])
    x = (centers[y] + 0.05 * torch.randn(n, 8, generator=g)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("beta", [0.0, 1.0], ids=["ibp", "crown-ibp"])
def test_certified_training_raises_certified_accuracy(beta: float) -> None:
    x, y = _blobs(256, 0)
    threat = Linf(0.08)
    accs = {}
    for certified in (False, True):
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
        )
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for step in range(50):
            eps = ramp(step, start=5, length=25, begin=0.0, end=0.08)
            if certified:
                kappa = ramp(step, start=5, length=25, begin=1.0, end=0.5)
                b = ramp(step, start=5, length=25, begin=beta, end=0.0)
                loss = certified_loss(net, x, y, threat.with_eps(eps), kappa=kappa, beta=b)
            else:
                loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        xt, yt = _blobs(200, 1)
        accs[certified] = advkit.certify(net.eval(), xt, yt, threat, IBP()).certified_accuracy
    assert accs[True] >= 0.8
    assert accs[True] > accs[False] + 0.1
    # the training bounds are the certifier's bounds (β = 0: IBP)
    lower = margin_lower_bounds(net, xt, yt, threat).detach()
    ibp = advkit.certify(net, xt, yt, threat, IBP()).class_lower
    lower[torch.arange(200), yt] = math.inf
    torch.testing.assert_close(lower, ibp)


def test_alpha_crown_leaves_model_gradients_alone() -> None:
    net = random_net("mlp", 6, 1)
    x = torch.rand(3, 1, 4, 4)
    advkit.certify(net, x, net(x).argmax(1), Linf(0.1), AlphaCROWN(steps=3))
    assert all(p.grad is None for p in net.parameters())
