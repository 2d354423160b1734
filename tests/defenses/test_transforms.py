"""Input transforms: shape/dtype/range, BPDA backward, generator-driven randomness; BPDA and
EOT attacks; the headline of Athalye et al. on real MNIST."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import advkit
from advkit.attacks.adaptive import BPDA, EOT, adapt
from advkit.data import load_dataset
from advkit.defenses.transforms import (
    JPEG,
    BitDepth,
    FunctionTransform,
    InputTransform,
    MedianFilter,
    NonLocalMeans,
    RandomResizePad,
    TVDenoise,
)
from advkit.models import load_model
from advkit.traits import bpda, is_random, mark_random, needs_bpda
from conftest import TinyCNN, require_shared

TRANSFORMS = [
    lambda: BitDepth(3),
    lambda: JPEG(60),
    lambda: MedianFilter(3),
    lambda: MedianFilter(2),
    lambda: NonLocalMeans(),
    lambda: TVDenoise(seed=4),
    lambda: RandomResizePad(0.75, seed=4),
    lambda: FunctionTransform(lambda x: (x * 4).floor() / 4),
]


@pytest.mark.parametrize("make", TRANSFORMS)
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_range_and_bpda_backward(make, channels: int) -> None:  # type: ignore[no-untyped-def]
    t: InputTransform = make()
    x = torch.rand(3, channels, 10, 10, generator=torch.Generator().manual_seed(2))
    out = t(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    xg = x.clone().requires_grad_(True)
    with bpda():
        (t(xg) * torch.arange(10.0)).sum().backward()
    assert xg.grad is not None and xg.grad.shape == x.shape
    assert float(xg.grad.abs().sum()) > 0  # BPDA (or the true gradient) gets through
    if not t.differentiable:
        # identity approximation: the BPDA gradient is exactly the upstream gradient
        torch.testing.assert_close(xg.grad, torch.arange(10.0).expand_as(x))
        xg.grad = None
        t(xg).sum().backward()  # without BPDA the transform masks the gradient
        assert float(xg.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("make", [lambda s: TVDenoise(seed=s), lambda s: RandomResizePad(seed=s)])
def test_randomness_comes_from_the_given_seed(make) -> None:  # type: ignore[no-untyped-def]
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    state = torch.random.get_rng_state()
    a, b, c = make(1), make(1), make(2)
    first = a(x)
    assert torch.equal(first, b(x))  # same seed, same draws
    assert not torch.equal(first, c(x))  # another seed, other draws
    assert not torch.equal(first, a(x))  # fresh draws on each call
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    assert a.random and is_random(nn.Sequential(a, TinyCNN()))


def test_detection_and_marking() -> None:
    plain = nn.Sequential(MedianFilter(), TinyCNN())
    assert not needs_bpda(plain) and not is_random(plain)
    assert needs_bpda(nn.Sequential(JPEG(), TinyCNN()))
    marked = nn.Sequential(mark_random(nn.Dropout(0.1)), TinyCNN())
    assert is_random(marked)
    method = advkit.PGD(steps=3)
    assert adapt(plain, method) is method
    wrapped = adapt(nn.Sequential(TVDenoise(), TinyCNN()), method, eot_samples=3)
    assert isinstance(wrapped, EOT) and isinstance(wrapped.attack, BPDA)
    with pytest.raises(ValueError, match="bits"):
        BitDepth(0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        BitDepth(2)(torch.rand(3, 64))


def test_eot_counts_every_draw_and_keeps_invariants() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(RandomResizePad(0.7, seed=1), TinyCNN()).eval()
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(6, 1, 8, 8, generator=g), torch.randint(0, 10, (6,), generator=g)
    res = advkit.attack(model, x, y, advkit.Linf(0.1), EOT(advkit.BIM(steps=4), samples=5))
    assert bool((res.x_adv - x).abs().max() <= 0.1 + 1e-6)
    # every gradient call is a multiple of the 5 draws
    assert bool((res.gradient_calls % 5 == 0).all()) and int(res.gradient_calls.max()) > 0
    with pytest.raises(ValueError, match="samples"):
        EOT(advkit.PGD(), samples=0)


@pytest.mark.slow
def test_athalye_headline_transforms_look_robust_until_bpda_and_eot() -> None:
    """A natural MNIST LeNet behind JPEG / bit-depth / TV-minimization transforms: plain
    PGD reports high robust accuracy (masked gradients); BPDA (+EOT for the random one),
    applied automatically by evaluate, drives it to near the undefended model's."""
    shared = require_shared()
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=60)
    base = load_model("lenet5-natural")
    threat = advkit.Linf(0.2)
    suite = [("pgd", advkit.PGD(steps=20, restarts=1))]
    undefended = advkit.evaluate(base, (x, y), threat, suite, progress=False)
    assert undefended.robust_accuracy <= 0.05
    for transform, n, limit in [
        (JPEG(75), 60, 0.1),
        (BitDepth(3), 60, 0.15),
        (TVDenoise(0.7), 30, 0.5),
    ]:
        model = nn.Sequential(transform, base).eval()
        data = (x[:n], y[:n])
        plain = advkit.evaluate(model, data, threat, suite, progress=False, adaptive=False)
        adaptive = advkit.evaluate(
            model, data, threat, suite, progress=False, eot_samples=4, checks=False
        )
        assert plain.clean_accuracy >= 0.9 and plain.robust_accuracy >= 0.85, transform
        assert "zero-gradients" in {f.check for f in plain.masking}, plain.masking
        assert adaptive.robust_accuracy <= limit, (transform, adaptive.robust_accuracy)
    # an adversarially trained model passes every check
    trained = load_model("lenet5-pgd")
    ev = advkit.evaluate(trained, (x[:40], y[:40]), advkit.Linf(0.3), "fast", progress=False)
    assert ev.robust_accuracy >= 0.8 and ev.masking == [], ev.masking
