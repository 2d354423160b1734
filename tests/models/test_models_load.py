"""load_model: registry lookup, import paths, factories, TorchScript, clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from advkit.models import MODELS, Normalize, load_model, shared_data_dir
from advkit.models.architectures import lenet5
from shared_data import SHARED_DATA, requires_shared_data


@pytest.fixture
def lenet_weights(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = lenet5()
    torch.save({"state_dict": model.state_dict()}, tmp_path / "lenet.pth")
    return tmp_path / "lenet.pth", model.eval()


def test_import_path_with_checkpoint(lenet_weights: tuple[Path, torch.nn.Module]):
    path, reference = lenet_weights
    model = load_model("advkit.models.architectures:lenet5", checkpoint=path)
    assert not model.training
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(model(x), reference(x))


def test_import_path_class_without_checkpoint():
    model = load_model("advkit.models.architectures:LeNet5")
    assert isinstance(model, torch.nn.Module)
    assert not model.training


def test_factory_keyword(lenet_weights: tuple[Path, torch.nn.Module]):
    path, reference = lenet_weights
    model = load_model(path, factory=lenet5)
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(model(x), reference(x))
    with pytest.raises(ValueError, match="not checkpoint="):
        load_model(path, checkpoint=path, factory=lenet5)


def test_torchscript(tmp_path: Path):
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.Dropout())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(reference.train()), str(tmp_path / "model.ts"))
        model = load_model(tmp_path / "model.ts")
    assert not model.training
    x = torch.rand(5, 1, 2, 2)
    torch.testing.assert_close(model(x), reference.eval()(x))


def test_state_dict_without_architecture_is_explained(
    lenet_weights: tuple[Path, torch.nn.Module],
):
    path, _ = lenet_weights
    with pytest.raises(ValueError, match=r"not a TorchScript file.*factory="):
        load_model(path)


def test_wrong_architecture_is_explained(lenet_weights: tuple[Path, torch.nn.Module]):
    path, _ = lenet_weights
    with pytest.raises(ValueError, match="do not fit the architecture"):
        load_model("advkit.models.architectures:cnn_small", checkpoint=path)


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("no-such-model", ValueError, "unknown model 'no-such-model'.*lenet5-natural"),
        ("advkit_no_such_module:f", ValueError, "cannot import module"),
        ("advkit.models.architectures:nope", ValueError, "has no attribute 'nope'"),
        ("advkit.models.registry:SHARED_DATA_ENV", TypeError, "not callable"),
        ("advkit.models.registry:shared_data_dir", TypeError, "not a torch.nn.Module"),
    ],
)
def test_bad_names(spec: str, error: type[Exception], match: str, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(error, match=match):
        load_model(spec)


def test_missing_registry_checkpoint_names_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ADVKIT_SHARED_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        load_model("lenet5-pgd")
    message = str(info.value)
    for option in ("checkpoint=", "ADVKIT_SHARED_DATA", "../shared/data", "lenet5_advtrained"):
        assert option in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("lenet5-pgd", checkpoint=tmp_path / "nope.pt")


def test_shared_data_dir_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ADVKIT_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv("ADVKIT_SHARED_DATA", str(tmp_path / "missing"))
    assert shared_data_dir() is None
    monkeypatch.delenv("ADVKIT_SHARED_DATA")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    assert shared_data_dir() == (tmp_path / "shared" / "data").resolve()
    monkeypatch.chdir(tmp_path)
    assert shared_data_dir() is None


def test_registry_specs_are_consistent():
    from advkit.data import DATASETS

    for name, spec in MODELS.items():
        assert spec.name == name
        assert spec.dataset in DATASETS
        assert spec.input_shape == DATASETS[spec.dataset].input_shape
        assert spec.architecture()(torch.zeros(1, *spec.input_shape)).shape == (1, 10)
        if spec.normalization is not None:
            mean, std = spec.normalization
            assert len(mean) == len(std) == spec.input_shape[0] or len(mean) == 1


@requires_shared_data
def test_registry_lookup_through_env_and_relative_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert SHARED_DATA is not None
    monkeypatch.setenv("ADVKIT_SHARED_DATA", str(SHARED_DATA))
    from_env = load_model("eran-cifar-convsmall-pgd")
    assert isinstance(from_env, torch.nn.Sequential)
    assert isinstance(from_env[0], Normalize)
    assert not from_env.training
    monkeypatch.delenv("ADVKIT_SHARED_DATA")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(SHARED_DATA.resolve())
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    relative = load_model("eran-cifar-convsmall-pgd")
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(relative(x), from_env(x))
