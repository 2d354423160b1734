"""``robustbench:NAME``: the architecture from robustbench's model zoo, the weights from a
local file through advkit's safe loader, never a download.

robustbench itself depends on torchvision, timm and more, so it is not installed here: a
tiny fake ``robustbench`` package with the same ``model_dicts`` layout (keyed by the
``BenchmarkDataset`` and ``ThreatModel`` enums) is put in ``sys.modules``. That proves the
adapter's contract with the package, not the package's own architectures.
"""

from __future__ import annotations

import sys
import types
from collections import OrderedDict
from enum import Enum
from pathlib import Path

import pytest
import torch
from torch import nn

from advkit.extras import MissingExtraError
from advkit.models import load_model
from advkit.models.robustbench_zoo import load_robustbench


class BenchmarkDataset(Enum):
    cifar_10 = "cifar10"
    cifar_100 = "cifar100"
    imagenet = "imagenet"


class ThreatModel(Enum):
    Linf = "Linf"
    L2 = "L2"
    corruptions = "corruptions"


class TinyNet(nn.Module):
    """Stands for a zoo architecture: its keys have no prefix, checkpoints add some."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.fc = nn.Linear(4 * 15 * 15, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class Wrapped(nn.Module):
    """An ImageNet-style entry: the network under ``.model`` after a normalization."""

    def __init__(self) -> None:
        super().__init__()
        self.model = TinyNet()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - 0.5) / 0.25)


@pytest.fixture
def fake_robustbench(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``robustbench`` package whose model zoo holds ``Tiny2024`` (Linf and L2) and an
    ensemble, as robustbench 1.1.1 lays them out."""
    entries = {
        ThreatModel.Linf: OrderedDict(
            [
                ("Tiny2024", {"model": TinyNet, "gdrive_id": "x"}),
                ("Ensemble2021", {"model": TinyNet, "gdrive_id": ["a", "b"]}),
            ]
        ),
        ThreatModel.L2: OrderedDict(
            [
                ("Tiny2024", {"model": TinyNet, "gdrive_id": "y"}),
                ("Wrapped2023", {"model": Wrapped, "gdrive_id": "z"}),
            ]
        ),
    }
    package = types.ModuleType("robustbench")
    zoo = types.ModuleType("robustbench.model_zoo")
    models = types.ModuleType("robustbench.model_zoo.models")
    enums = types.ModuleType("robustbench.model_zoo.enums")
    models.model_dicts = OrderedDict([(BenchmarkDataset.cifar_10, entries)])  # type: ignore[attr-defined]
    enums.BenchmarkDataset = BenchmarkDataset  # type: ignore[attr-defined]
    enums.ThreatModel = ThreatModel  # type: ignore[attr-defined]
    for name, module in [
        ("robustbench", package),
        ("robustbench.model_zoo", zoo),
        ("robustbench.model_zoo.models", models),
        ("robustbench.model_zoo.enums", enums),
    ]:
        monkeypatch.setitem(sys.modules, name, module)


def _save(path: Path, seed: int, wrap: bool = True) -> TinyNet:
    """Random weights saved as robustbench's checkpoints are: under 'state_dict', with
    'module.' prefixes."""
    torch.manual_seed(seed)
    model = TinyNet().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3} if wrap else state, path)
    return model


@pytest.mark.usefixtures("fake_robustbench")
def test_weights_from_robustbench_cache_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    linf = _save(tmp_path / "models" / "cifar10" / "Linf" / "Tiny2024.pt", seed=0)
    l2 = _save(tmp_path / "models" / "cifar10" / "L2" / "Tiny2024.pt", seed=1, wrap=False)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_model("robustbench:Tiny2024")(x), linf(x))
        model = load_model("robustbench:Tiny2024", threat_model="L2", dataset="cifar10")
        assert not model.training
        torch.testing.assert_close(model(x), l2(x))


@pytest.mark.usefixtures("fake_robustbench")
def test_weights_from_a_file_or_a_model_dir(tmp_path: Path) -> None:
    reference = _save(tmp_path / "weights.pt", seed=2)
    moved = _save(tmp_path / "zoo" / "cifar10" / "Linf" / "Tiny2024.pt", seed=3)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        model = load_robustbench("Tiny2024", checkpoint=tmp_path / "weights.pt")
        torch.testing.assert_close(model(x), reference(x))
        model = load_robustbench("Tiny2024", checkpoint=tmp_path / "zoo")
        torch.testing.assert_close(model(x), moved(x))


@pytest.mark.usefixtures("fake_robustbench")
def test_bare_weights_of_a_wrapped_architecture(tmp_path: Path) -> None:
    net = _save(tmp_path / "bare.pt", seed=4)
    model = load_robustbench("Wrapped2023", threat_model="L2", checkpoint=tmp_path / "bare.pt")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net((x - 0.5) / 0.25))


@pytest.mark.usefixtures("fake_robustbench")
def test_missing_weights_say_where_to_put_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        load_model("robustbench:Tiny2024")
    message = str(info.value)
    assert str(Path("models", "cifar10", "Linf", "Tiny2024.pt")) in message
    assert "--checkpoint" in message and "never downloads" in message


@pytest.mark.usefixtures("fake_robustbench")
@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("Tiny2025", {}, "no model 'Tiny2025'.*Did you mean Tiny2024"),
        ("Tiny2024", {"dataset": "mnist"}, "dataset 'mnist'.*cifar10"),
        ("Tiny2024", {"threat_model": "L1"}, "threat model 'L1'.*Linf, L2"),
        ("Ensemble2021", {}, "ensemble"),
    ],
)
def test_bad_entries_are_explained(name: str, kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_robustbench(name, **kwargs)


@pytest.mark.usefixtures("fake_robustbench")
def test_pickled_checkpoints_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(TinyNet(), path)
    with pytest.raises(Exception, match="weights_only=True"):
        load_robustbench("Tiny2024", checkpoint=path)


def test_without_robustbench_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "robustbench", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'advkit\[robustbench\]'"):
        load_model("robustbench:Carmon2019Unlabeled")


def test_options_only_for_robustbench_names() -> None:
    with pytest.raises(ValueError, match="robustbench:NAME"):
        load_model("lenet5-pgd", threat_model="L2")
