"""A results store is tied to the model's function, not only to its weights: a model with
the same state dict but other layers, settings or outputs never reuses stored results."""

from __future__ import annotations

import copy
import importlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import APGD
from advkit.data.samples import Samples
from advkit.defenses.transforms import BitDepth, FunctionTransform, RandomResizePad
from advkit.demo import digits_cnn
from advkit.evaluate.fingerprint import ModelIdentity, model_identity
from advkit.evaluate.resume import open_store
from advkit.evaluate.scan import DataScan, scan_samples
from advkit.store import StoreMismatch

pytestmark = pytest.mark.usefixtures("single_thread")

run_module = importlib.import_module("advkit.evaluate.run")
SUITE: list[tuple[str, Any]] = [("apgd-ce", APGD(steps=2))]


class Scale(nn.Module):
    """Multiplies by a class attribute: invisible to the weights and the instance."""

    factor: ClassVar[float] = 1.0

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


def cnn() -> nn.Module:
    """The demo digits CNN with seeded random weights."""
    torch.manual_seed(0)
    return digits_cnn().eval()


def swapped(model: nn.Module, old: type[nn.Module], new: Callable[[], nn.Module]) -> nn.Module:
    """A copy of a Sequential ``model`` with every ``old`` layer replaced (same state dict)."""
    other = copy.deepcopy(model)
    for i, layer in enumerate(other):
        if isinstance(layer, old):
            other[i] = new()
    assert other.state_dict().keys() == model.state_dict().keys()
    return other


def evaluate(model: nn.Module, x: Tensor, y: Tensor, store: Path) -> advkit.Evaluation:
    return advkit.evaluate(
        model,
        (x, y),
        advkit.Linf(0.05),
        SUITE,
        batch_size=4,
        store=store,
        progress=False,
        checks=False,
    )


@pytest.fixture
def data() -> tuple[Tensor, Tensor]:
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = cnn()(x).argmax(dim=1)
    return x, y


def scanned(model: nn.Module, x: Tensor, y: Tensor) -> DataScan:
    """The pass over (x, y) that an evaluation makes before opening its store."""
    return scan_samples(model, Samples.of((x, y)), 0.0, 1.0)


def bitdepth(bits: int) -> nn.Module:
    return nn.Sequential(BitDepth(bits), cnn()).eval()


def tanh(m: nn.Module) -> nn.Module:
    return swapped(m, nn.ReLU, nn.Tanh)


def avgpool(m: nn.Module) -> nn.Module:
    return swapped(m, nn.MaxPool2d, lambda: nn.AvgPool2d(2))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (cnn, lambda: tanh(cnn())),
        (cnn, lambda: avgpool(cnn())),
        (lambda: bitdepth(1), lambda: bitdepth(6)),
    ],
    ids=["tanh-for-relu", "avgpool-for-maxpool", "bitdepth-6-for-1"],
)
def test_a_model_with_the_same_weights_but_another_function_is_refused(
    first: Callable[[], nn.Module],
    second: Callable[[], nn.Module],
    data: tuple[Tensor, Tensor],
    tmp_path: Path,
) -> None:
    a, b = first(), second()
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    evaluate(a, *data, tmp_path / "S.sqlite")
    with pytest.raises(StoreMismatch, match=r"different evaluation \(model differ\)"):
        evaluate(b, *data, tmp_path / "S.sqlite")


def test_a_changed_class_attribute_is_caught_by_the_probe_outputs(
    data: tuple[Tensor, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = nn.Sequential(Scale(), cnn()).eval()
    evaluate(model, *data, tmp_path / "S.sqlite")
    monkeypatch.setattr(Scale, "factor", 0.5)  # same weights, layers and settings
    with pytest.raises(StoreMismatch, match=r"different evaluation: .* other outputs"):
        evaluate(model, *data, tmp_path / "S.sqlite")


def test_the_same_model_rebuilt_resumes_without_attacking(
    data: tuple[Tensor, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = evaluate(bitdepth(6), *data, tmp_path / "S.sqlite")
    calls = itertools.count()
    attack_batch = run_module._attack_batch

    def counting(*args: Any, **kw: Any) -> Any:
        next(calls)
        return attack_batch(*args, **kw)

    monkeypatch.setattr(run_module, "_attack_batch", counting)
    again = evaluate(bitdepth(6), *data, tmp_path / "S.sqlite")
    assert next(calls) == 0
    assert again.samples == first.samples


def test_probe_outputs_absorb_rounding_but_not_another_function() -> None:
    ident = ModelIdentity("k", (10.0, -3.0, 0.5))
    assert ident.same_outputs((10.0 + 1e-5, -3.0, 0.5 - 1e-6))
    assert not ident.same_outputs((10.0, -3.0, 0.51))
    assert not ident.same_outputs((10.0, -3.0))
    assert not ident.same_outputs(None)


def test_settings_hidden_from_repr_enter_the_identity() -> None:
    like = torch.rand(2, 1, 8, 8)
    keys = {model_identity(nn.Sequential(BitDepth(b)), like).key for b in (1, 2, 6)}
    assert len(keys) == 3
    shift = {
        model_identity(nn.Sequential(FunctionTransform(lambda x, s=s: x + s)), like).key
        for s in (0.0, 0.1)
    }
    assert len(shift) == 2


def test_a_random_model_resumes_on_its_layers_and_weights(
    data: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    x, y = data
    model = nn.Sequential(RandomResizePad(0.8), cnn())
    ident = model_identity(model, x)
    assert ident.outputs is None and ident.unknown is None  # outputs vary by call
    model(x)  # advances the transform's generator: still the same model
    assert model_identity(model, x) == ident
    args = (scanned(model, x, y), advkit.Linf(0.05), SUITE, 0, 4)
    open_store(tmp_path / "S.sqlite", model, *args).close()
    open_store(tmp_path / "S.sqlite", model, *args).close()
    other = nn.Sequential(RandomResizePad(0.9), cnn())
    with pytest.raises(StoreMismatch, match=r"different evaluation \(model differ\)"):
        open_store(tmp_path / "S.sqlite", other, *args)


class Noise(nn.Module):
    """A random layer whose noise comes from an object advkit cannot look into."""

    def __init__(self) -> None:
        super().__init__()
        self.source = iter([0.1] * 1000)  # an iterator: no __dict__, no repr of its state

    def forward(self, x: Tensor) -> Tensor:
        return x + next(self.source) * torch.rand_like(x)


def test_a_random_model_of_unknown_identity_is_never_reused(
    data: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    x, y = data
    model = nn.Sequential(advkit.traits.mark_random(Noise()), cnn())
    ident = model_identity(model, x)
    assert ident.unknown is not None and "0 (list_iterator)" in ident.unknown
    args = (scanned(model, x, y), advkit.Linf(0.05), SUITE, 0, 4)
    open_store(tmp_path / "S.sqlite", model, *args).close()  # a new store is fine
    with pytest.raises(StoreMismatch, match="cannot establish the model's identity"):
        open_store(tmp_path / "S.sqlite", model, *args)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_low_precision_model_and_data_key_a_store(
    dtype: torch.dtype, data: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    x, y = data
    model = cnn().to(dtype)
    args = (scanned(model, x.to(dtype), y), advkit.Linf(0.05), SUITE, 0, 4)
    open_store(tmp_path / "S.sqlite", model, *args).close()
    open_store(tmp_path / "S.sqlite", model, *args).close()  # resumes
    with pytest.raises(StoreMismatch, match=r"different evaluation \(model differ\)"):
        open_store(tmp_path / "S.sqlite", tanh(cnn()).to(dtype), *args)


def test_a_bf16_model_evaluates_into_a_store_and_resumes(
    data: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    x, y = data
    model = cnn().to(torch.bfloat16)
    first = evaluate(model, x.to(torch.bfloat16), y, tmp_path / "S.sqlite")
    again = evaluate(model, x.to(torch.bfloat16), y, tmp_path / "S.sqlite")
    assert again.samples == first.samples
