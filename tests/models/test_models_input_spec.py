"""Input normalization and layout declared for a model and checked against its first
layer, the ONNX input shape and the data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from onnx_support import ChannelsLast, export, mlp
from torch import nn

from advkit.models import Normalize
from advkit.models.input_spec import InputSpec, adapt_inputs
from advkit.models.onnx_import import load_onnx, onnx_input_shape


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


def test_normalization_is_prepended() -> None:
    torch.manual_seed(0)
    net = conv_net().eval()
    spec = InputSpec(mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.25))
    model = adapt_inputs(net, spec, (3, 8, 8))
    assert isinstance(model, nn.Sequential) and isinstance(model[0], Normalize)
    x = torch.rand(2, 3, 8, 8)
    mean, std = torch.tensor(spec.mean), torch.tensor(spec.std)
    expected = net((x - mean[:, None, None]) / std[:, None, None])
    torch.testing.assert_close(model(x), expected)
    assert spec.box() == pytest.approx((-2.5, 3.0))  # channels 0 and 1 reach the ends


def test_nothing_declared_keeps_the_model() -> None:
    net = conv_net()
    assert adapt_inputs(net, InputSpec(), (3, 8, 8)) is net


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (InputSpec(mean=(0.5, 0.5), std=(0.2, 0.2)), r"--mean has 2 values.*3 channels"),
        (InputSpec(mean=(0.5,), std=(0.2, 0.2)), r"--std has 2 values.*3 channels"),
        (InputSpec(layout="nhwc"), r"first layer.*Conv2d.*channels first.*--layout nchw"),
    ],
    ids=["mean-length", "std-length", "nhwc-into-conv"],
)
def test_wrong_declarations_are_explained(spec: InputSpec, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        adapt_inputs(conv_net(), spec, (3, 8, 8))


def test_a_wrong_channel_count_names_the_first_layer() -> None:
    with pytest.raises(ValueError, match=r"first layer.*Conv2d.*3 channels.*\(1, 8, 8\)"):
        adapt_inputs(conv_net(), InputSpec(), (1, 8, 8))


def test_a_linear_first_layer_is_checked() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(ValueError, match=r"first layer.*Linear.*64 features.*\(3, 8, 8\)"):
        adapt_inputs(net, InputSpec(), (3, 8, 8))


def test_spec_validates_itself() -> None:
    with pytest.raises(ValueError, match=r"layout 'chw'.*nchw, nhwc"):
        InputSpec(layout="chw")
    with pytest.raises(ValueError, match="--mean and --std"):
        InputSpec(mean=(0.5,))
    with pytest.raises(ValueError, match="positive"):
        InputSpec(mean=(0.5,), std=(0.0,))


def test_onnx_channels_last_needs_nhwc(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = ChannelsLast().eval()
    path = export(reference, tmp_path / "nhwc.onnx", shape=(8, 8, 1))
    onnx_model, declared = load_onnx(path), onnx_input_shape(path)
    with pytest.raises(ValueError, match=r"ONNX input.*\(8, 8, 1\).*--layout nhwc"):
        adapt_inputs(onnx_model, InputSpec(), (1, 8, 8), declared)
    model = adapt_inputs(onnx_model, InputSpec(layout="nhwc"), (1, 8, 8), declared)
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x.permute(0, 2, 3, 1)))


def test_onnx_channels_first_refuses_nhwc(tmp_path: Path) -> None:
    path = export(mlp().eval(), tmp_path / "mlp.onnx")
    declared = onnx_input_shape(path)
    with pytest.raises(ValueError, match=r"ONNX input.*\(1, 8, 8\).*--layout nchw"):
        adapt_inputs(load_onnx(path), InputSpec(layout="nhwc"), (1, 8, 8), declared)


def test_onnx_flat_input_takes_flattened_images(tmp_path: Path) -> None:
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(64, 10)).eval()
    path = export(net, tmp_path / "flat.onnx", shape=(64,))
    model = adapt_inputs(load_onnx(path), InputSpec(), (1, 8, 8), onnx_input_shape(path))
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x.flatten(1)), atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match=r"ONNX input.*\(64,\).*\(3, 8, 8\)"):
        adapt_inputs(load_onnx(path), InputSpec(), (3, 8, 8), onnx_input_shape(path))
