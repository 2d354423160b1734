"""``check_model`` is cheap on sound weights: one sum per tensor and one device read for
the whole model (not a scan and a read per tensor), and it still names broken tensors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from advkit.validate import check_model

pytestmark = pytest.mark.usefixtures("single_thread")

READS = {"__bool__", "item", "tolist", "__float__", "__int__", "__index__", "cpu", "numpy"}
SCANS = {"isfinite", "isnan", "isinf"}


class Reads(TorchFunctionMode):
    """Counts the calls that read a tensor's value on the host (a device sync each) and
    the values scanned for finiteness."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = self.scanned = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        self.reads += name in READS
        if name in SCANS:
            self.scanned += args[0].numel()
        return func(*args, **(kwargs or {}))


def deep() -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(8, 8) for _ in range(30)]
    return nn.Sequential(*layers, nn.BatchNorm1d(8)).eval()


def test_sound_weights_cost_one_read_and_no_elementwise_scan() -> None:
    model = deep()
    tensors = len([t for t in model.state_dict().values() if t.is_floating_point()])
    with Reads() as seen:
        check_model(model)
    assert (seen.reads, seen.scanned) == (1, tensors)  # one sum per tensor, read at once


def test_large_finite_weights_whose_sum_overflows_pass() -> None:
    model = deep()
    with torch.no_grad():
        model[3].weight.fill_(3e38)
        model[30].running_var.fill_(float("inf"))  # buffers may hold inf
    assert check_model(model) is model


def test_a_broken_tensor_is_still_named() -> None:
    model = deep()
    with torch.no_grad():
        model[7].bias[2] = float("inf")
        model[30].running_mean[0] = float("nan")
    with pytest.raises(ValueError, match=r"parameter '7\.bias' holds inf in 1 of its 8.*1 more"):
        check_model(model)
