"""safetensors state dicts load like .pt state dicts: with a factory or a registry name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from advkit.models import load_model
from advkit.models.architectures import lenet5
from advkit.models.checkpoint import load_state_dict_file


@pytest.fixture
def lenet(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = lenet5().eval()
    state = {f"module.{k}": v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "lenet.safetensors"))  # DataParallel-style names
    return tmp_path / "lenet.safetensors", model


def test_state_dict_file(lenet: tuple[Path, torch.nn.Module]) -> None:
    path, model = lenet
    state = load_state_dict_file(path)
    assert set(state) == set(model.state_dict())


@pytest.mark.parametrize("how", ["factory", "import-path", "registry"])
def test_loads_like_a_pt_state_dict(lenet: tuple[Path, torch.nn.Module], how: str) -> None:
    path, reference = lenet
    if how == "factory":
        model = load_model(path, factory=lenet5)
    elif how == "import-path":
        model = load_model("advkit.models.architectures:lenet5", checkpoint=path)
    else:
        model = load_model("lenet5-pgd", checkpoint=path)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_without_architecture_is_explained(lenet: tuple[Path, torch.nn.Module]) -> None:
    path, _ = lenet
    with pytest.raises(ValueError, match=r"state dict.*package\.module:factory"):
        load_model(path)


def test_corrupted_file_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match=r"broken\.safetensors is not a valid safetensors file"):
        load_model("advkit.models.architectures:lenet5", checkpoint=path)
