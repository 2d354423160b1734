"""Normalize: per-channel standardization as a first layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advkit.models import Normalize


def test_per_channel_values_and_gradient():
    norm = Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    x = torch.rand(4, 3, 5, 5, requires_grad=True)
    out = norm(x)
    mean = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (x - mean) / std)
    out.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, (1 / std).expand_as(x))


def test_scalar_statistics_broadcast_to_any_channel_count():
    norm = Normalize(0.5, 0.25)
    torch.testing.assert_close(norm(torch.full((2, 3, 4, 4), 0.75)), torch.ones(2, 3, 4, 4))
    torch.testing.assert_close(norm(torch.full((2, 7), 0.25)), -torch.ones(2, 7))


def test_buffers_follow_state_dict_and_dtype():
    norm = Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    assert set(norm.state_dict()) == {"mean", "std"}
    assert list(norm.parameters()) == []
    model = nn.Sequential(norm, nn.Flatten())
    clone = nn.Sequential(Normalize((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), nn.Flatten())
    clone.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 2, 2)
    torch.testing.assert_close(clone(x), model(x))
    assert norm.double()(x.double()).dtype == torch.float64
    assert "mean=" in repr(norm)


@pytest.mark.parametrize(
    ("mean", "std", "match"),
    [
        ((0.1, 0.2), (0.1, 0.2, 0.3), "mean has 2 values but std has 3"),
        ((0.1,), (0.0,), "std must be positive"),
        ((), (), "at least one value"),
    ],
)
def test_invalid_statistics(mean: tuple[float, ...], std: tuple[float, ...], match: str):
    with pytest.raises(ValueError, match=match):
        Normalize(mean, std)


def test_channel_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(N, 3, \.\.\.\)"):
        Normalize((0.1, 0.2, 0.3), (1.0, 1.0, 1.0))(torch.rand(2, 1, 28, 28))
