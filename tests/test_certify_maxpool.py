"""Max pooling in IBP/CROWN/α-CROWN: soundness against sampling, attacks and exact MIP."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.certify.graph import trace
from conftest import require_shared


def _margins(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """(N, K) margins z_y − z_j (+inf at j = y)."""
    with torch.no_grad():
        z = model(x)
    m = z.gather(1, y[:, None]) - z
    m[torch.arange(len(y)), y] = float("inf")
    return m


def _pool_net(seed: int, kernel: int, stride: int, padding: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel, stride=stride, padding=padding),
        nn.Conv2d(3, 4, 3),
        nn.MaxPool2d(2),  # before the ReLU: CROWN tightens the pooled values' bounds
        nn.ReLU(),
        nn.Flatten(),
        nn.LazyLinear(5),
    )
    net(torch.zeros(1, 1, 10, 10))
    return net.eval()


@pytest.mark.parametrize(("seed", "kernel", "stride", "padding"), [(0, 2, 2, 0), (1, 3, 2, 1)])
def test_pooling_bounds_are_sound_against_samples_and_pgd(
    seed: int, kernel: int, stride: int, padding: int
) -> None:
    net = _pool_net(seed, kernel, stride, padding)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 1, 10, 10, generator=g)
    y = net(x).argmax(1)
    threat = advkit.Linf(0.04)
    noise = (torch.rand(200, *x.shape, generator=g) * 2 - 1) * 0.04
    pts = (x[None] + noise).clamp(0, 1).reshape(-1, 1, 10, 10)
    worst = _margins(net, pts, y.repeat(200)).reshape(200, 6, -1).amin(0)
    adv = advkit.attack(net, x, y, threat, advkit.PGD(steps=20), seed=seed)
    worst = torch.minimum(worst, _margins(net, adv.x_adv, y))
    lowers = {}
    for method in (advkit.IBP(), advkit.CROWN(), advkit.AlphaCROWN(steps=5)):
        res = advkit.certify(net, x, y, threat, method)
        assert (res.class_lower <= worst + 1e-4).all(), method.name
        assert not (res.certified & adv.success).any()
        lowers[method.name] = res.class_lower
    assert (lowers["alpha-crown"] >= lowers["crown"] - 1e-5).all()


class _PoolAsRelu(nn.Module):
    """max over the 2×2 window of (C, 2, 2) values with ReLUs: max(a, b) = a + relu(b − a)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        # flattened (C, 2, 2): per channel entries x0 x1 x2 x3
        self.first = nn.Linear(4 * c, 2 * c, bias=False)  # (x0, x2)
        self.diff = nn.Linear(4 * c, 2 * c, bias=False)  # (x1 − x0, x3 − x2)
        self.keep = nn.Linear(2 * c, c, bias=False)  # m01
        self.gap = nn.Linear(2 * c, c, bias=False)  # m23 − m01
        with torch.no_grad():
            for layer in (self.first, self.diff, self.keep, self.gap):
                layer.weight.zero_()
            for ch in range(c):
                for j, (a, b) in enumerate(((0, 1), (2, 3))):
                    self.first.weight[2 * ch + j, 4 * ch + a] = 1.0
                    self.diff.weight[2 * ch + j, 4 * ch + b] = 1.0
                    self.diff.weight[2 * ch + j, 4 * ch + a] = -1.0
                self.keep.weight[ch, 2 * ch] = 1.0
                self.gap.weight[ch, 2 * ch + 1] = 1.0
                self.gap.weight[ch, 2 * ch] = -1.0

    def forward(self, v: Tensor) -> Tensor:
        pairs = self.first(v) + torch.relu(self.diff(v))
        return self.keep(pairs) + torch.relu(self.gap(pairs))


def test_pooling_bounds_never_exceed_the_exact_mip_margin() -> None:
    torch.manual_seed(3)
    head = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU())
    tail = nn.Linear(2, 3)
    pooled = nn.Sequential(head, nn.Unflatten(1, (2, 2, 2)), nn.MaxPool2d(2), nn.Flatten(), tail)
    as_relu = nn.Sequential(head, _PoolAsRelu(2), tail)
    pooled.eval(), as_relu.eval()
    x = torch.rand(8, 1, 6)
    assert torch.allclose(pooled(x), as_relu(x), atol=1e-6)
    assert [n.kind for n in trace(pooled, x).nodes].count("maxpool") == 1
    y = pooled(x).argmax(1)
    threat = advkit.Linf(0.08)
    exact = advkit.certify(as_relu, x, y, threat, advkit.MIP(time_limit=30))
    assert "unknown" not in exact.status()
    for method in (advkit.IBP(), advkit.CROWN(), advkit.AlphaCROWN(steps=10)):
        res = advkit.certify(pooled, x, y, threat, method)
        assert (res.lower <= exact.lower + 1e-4).all(), method.name
        assert not (res.certified & exact.attacked).any()
    with pytest.raises(TypeError, match="max pooling"):
        advkit.certify(pooled, x, y, threat, advkit.MIP())


def test_dominated_window_is_exact() -> None:
    # one input of each window is far above the others: max pooling is then linear and
    # CROWN's bound equals the exact worst case of the (linear) network
    net = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1, 2)).eval()
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[2].bias.zero_()
    x = torch.tensor([[[[0.9, 0.1], [0.2, 0.1]]]])
    res = advkit.certify(net, x, torch.tensor([0]), advkit.Linf(0.05), advkit.CROWN())
    # margin z0 − z1 = 2·max = 2·x00, smallest at x00 = 0.85
    assert res.lower.item() == pytest.approx(1.7, abs=1e-5)


def test_functional_max_pool_traces_and_unsupported_options_are_refused() -> None:
    class Net(nn.Module):
        def __init__(self, **kw: object) -> None:
            super().__init__()
            self.kw = kw
            self.fc = nn.Linear(4, 2)

        def forward(self, v: Tensor) -> Tensor:
            return self.fc(torch.flatten(nn.functional.max_pool2d(v, 2, **self.kw), 1))

    x = torch.rand(2, 1, 4, 4)
    assert [n.kind for n in trace(Net().eval(), x).nodes][1] == "maxpool"
    with pytest.raises(TypeError, match="dilation"):
        trace(nn.Sequential(nn.MaxPool2d(2, dilation=2)).eval(), torch.rand(1, 1, 6, 6))


@pytest.mark.slow
def test_lenet5_with_max_pooling_is_certified_by_crown() -> None:
    root = require_shared()
    from advkit.data import load_dataset
    from advkit.models import load_model

    model = load_model("lenet5-pgd")
    x, y = load_dataset("mnist", split="test", data_dir=root / "datasets" / "mnist", limit=1)
    threat = advkit.Linf(0.01)
    ibp = advkit.certify(model, x, y, threat, advkit.IBP())
    crown = advkit.certify(model, x, y, threat, advkit.CROWN())
    adv = advkit.attack(model, x, y, threat, advkit.PGD(steps=10))
    assert crown.certified.all() and not adv.success.any()
    assert (crown.lower >= ibp.lower).all()
    assert (crown.lower <= _margins(model, adv.x_adv, y).amin(1) + 1e-4).all()
