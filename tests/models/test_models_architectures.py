"""Reference architectures: output shapes and state-dict keys of the published models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from advkit.models.architectures import (
    cnn_small,
    eran_conv_small,
    fc_3layer,
    kw_small,
    lenet5,
    mlp,
    oval_base,
    resnet2b,
)

_SEQ = ("0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias", "7.weight", "7.bias")

CASES: list[
    tuple[str, Callable[[], nn.Module], tuple[int, int, int], dict[str, tuple[int, ...]]]
] = [
    ("kw_small(1,28)", lambda: kw_small(1, 28), (1, 28, 28), {"5.weight": (100, 1568)}),
    ("kw_small(3,32)", lambda: kw_small(3, 32), (3, 32, 32), {"5.weight": (100, 2048)}),
    ("eran(1,28)", lambda: eran_conv_small(1, 28), (1, 28, 28), {"5.weight": (100, 800)}),
    ("eran(3,32)", lambda: eran_conv_small(3, 32), (3, 32, 32), {"5.weight": (100, 1152)}),
    ("oval_base", oval_base, (3, 32, 32), {"0.weight": (8, 3, 4, 4), "5.weight": (100, 1024)}),
    ("mlp", lambda: mlp(784, 20, 10), (1, 28, 28), {"1.weight": (20, 784), "3.weight": (10, 20)}),
    ("cnn_small", cnn_small, (1, 28, 28), {"conv1.weight": (8, 1, 4, 4), "fc1.weight": (256, 784)}),
    ("fc_3layer", fc_3layer, (1, 28, 28), {"fc2.weight": (64, 128), "fc3.bias": (10,)}),
    (
        "lenet5",
        lenet5,
        (1, 28, 28),
        {"conv2.weight": (64, 32, 3, 3), "linear1.weight": (200, 3136)},
    ),
    (
        "resnet2b",
        resnet2b,
        (3, 32, 32),
        {
            "layer1.0.shortcut.0.weight": (16, 8, 1, 1),
            "layer1.1.conv2.weight": (16, 16, 3, 3),
            "linear1.weight": (100, 1024),
        },
    ),
]


@pytest.mark.parametrize(("label", "factory", "shape", "keys"), CASES, ids=[c[0] for c in CASES])
def test_shapes_and_keys(
    label: str,
    factory: Callable[[], nn.Module],
    shape: tuple[int, int, int],
    keys: dict[str, tuple[int, ...]],
):
    model = factory()
    assert model(torch.rand(3, *shape)).shape == (3, 10)
    state = model.state_dict()
    for key, key_shape in keys.items():
        assert tuple(state[key].shape) == key_shape, key


@pytest.mark.parametrize(
    "factory", [lambda: kw_small(1, 28), lambda: eran_conv_small(3, 32), oval_base]
)
def test_sequential_keys(factory: Callable[[], nn.Module]):
    assert tuple(factory().state_dict()) == _SEQ


def test_resnet_identity_shortcut_has_no_parameters():
    keys = set(resnet2b().state_dict())
    assert not any(k.startswith("layer1.1.shortcut") for k in keys)
    assert "layer1.0.shortcut.0.bias" in keys


def test_invalid_sizes():
    with pytest.raises(ValueError, match="divisible by 4"):
        kw_small(1, 30)
    with pytest.raises(ValueError, match="at least two positive sizes"):
        mlp(784)
