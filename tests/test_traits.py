"""Model traits (advkit.traits): layers declare them, attacks ask them; the BPDA switch is
scoped to its block and its thread."""

from __future__ import annotations

import threading

import torch
from torch import Tensor, nn

from advkit.defenses.detectors import FeatureSqueezing, GradientNormDetector
from advkit.defenses.transforms import BitDepth, RandomResizePad
from advkit.traits import (
    DetectorLike,
    Traits,
    bpda,
    bpda_active,
    is_random,
    mark_random,
    needs_bpda,
    surrogate_output,
)


class Floor(Traits, nn.Module):
    """A user's own non-differentiable layer, declared through the traits mixin."""

    differentiable = False

    def approximation(self, x: Tensor) -> Tensor:
        return 2 * x

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            exact = x.floor()
        return surrogate_output(self, x, exact)


def test_declared_traits_are_found_anywhere_in_the_model() -> None:
    plain = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    assert not needs_bpda(plain) and not is_random(plain)
    assert needs_bpda(nn.Sequential(nn.Sequential(Floor()), plain))
    assert needs_bpda(nn.Sequential(BitDepth(3), plain)) and not is_random(BitDepth(3))
    resize = RandomResizePad()
    assert is_random(nn.Sequential(resize, plain)) and not needs_bpda(resize)
    assert is_random(nn.Sequential(mark_random(nn.Dropout(0.1)), plain))


def test_surrogate_output_keeps_the_value_and_switches_the_gradient() -> None:
    layer, x = Floor(), torch.tensor([0.5, 1.5, 2.25], requires_grad=True)
    out = layer(x)
    assert out.tolist() == [0.0, 1.0, 2.0]
    (masked,) = torch.autograd.grad(out.sum(), x)
    assert masked.tolist() == [0.0, 0.0, 0.0]
    with bpda():
        out = layer(x)
    assert out.tolist() == [0.0, 1.0, 2.0]
    (crossed,) = torch.autograd.grad(out.sum(), x)
    assert crossed.tolist() == [2.0, 2.0, 2.0]  # the approximation's gradient


def test_the_bpda_switch_nests_resets_and_stays_in_its_thread() -> None:
    assert not bpda_active()
    with bpda():
        assert bpda_active()
        with bpda(False):
            assert not bpda_active()
        assert bpda_active()
        seen: list[bool] = []
        other = threading.Thread(target=lambda: seen.append(bpda_active()))
        other.start()
        other.join()
        assert seen == [False]
    assert not bpda_active()


def test_detectors_declare_what_the_guard_evaluates() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    assert isinstance(GradientNormDetector(model), DetectorLike)
    assert isinstance(FeatureSqueezing(model), DetectorLike)
    assert not isinstance(model, DetectorLike)
