"""Resuming training: a checkpoint continues only the run that wrote it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import advkit
from advkit.defenses.certified import CertifiedTraining
from conftest import TinyCNN


def _data(n: int = 32, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _model() -> nn.Module:
    torch.manual_seed(1)
    return TinyCNN()


def _sequential(activation: nn.Module) -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), activation, nn.Flatten(), nn.Linear(256, 10)
    )


def _first_epoch(ckpt: Path, model: nn.Module | None = None, **options: Any) -> None:
    """One epoch of standard training at Linf(0.1), batch 16, lr 1e-3, seed 0."""
    settings: dict[str, Any] = {
        "method": advkit.Standard(),
        "threat": advkit.Linf(0.1),
        "epochs": 1,
        "batch_size": 16,
        "progress": False,
        "checkpoint": ckpt,
    }
    settings.update(options)
    advkit.train(model if model is not None else _model(), _data(), **settings)


def _resume(ckpt: Path, model: nn.Module | None = None, **options: Any) -> list[dict[str, Any]]:
    settings: dict[str, Any] = {
        "method": advkit.Standard(),
        "threat": advkit.Linf(0.1),
        "epochs": 2,
        "batch_size": 16,
        "progress": False,
        "checkpoint": ckpt,
        "resume": True,
    }
    settings.update(options)
    data = settings.pop("data", _data())
    return advkit.train(model if model is not None else _model(), data, **settings)


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"method": advkit.PGDTraining(steps=2), "threat": advkit.Linf(0.3)}, "method"),
        ({"threat": advkit.Linf(0.3)}, "threat"),
        ({"threat": advkit.L2(0.1)}, "threat"),
        ({"data": _data(seed=6)}, "data"),
        ({"data": _data(n=24)}, "data"),
        ({"batch_size": 8}, "batch_size"),
        ({"lr": 1e-2}, "optimizer"),
        ({"seed": 3}, "seed"),
        ({"eval_data": _data(8)}, "eval_data"),
    ],
)
def test_resume_refuses_a_different_run(
    tmp_path: Path, options: dict[str, Any], setting: str
) -> None:
    ckpt = tmp_path / "run.pt"
    _first_epoch(ckpt)
    before = ckpt.read_bytes()
    model = _model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=rf"{setting}: checkpoint .* this run .*new checkpoint"):
        _resume(ckpt, model, **options)
    assert ckpt.read_bytes() == before
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, start[k])  # the refused checkpoint was not loaded


def test_the_refusal_lists_every_difference(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.pt"
    _first_epoch(ckpt)
    with pytest.raises(ValueError) as err:
        _resume(ckpt, method=advkit.PGDTraining(steps=2), threat=advkit.Linf(0.3), lr=1e-2)
    message = str(err.value)
    assert str(ckpt) in message
    assert "Standard()" in message and "PGDTraining(steps=2" in message
    assert "eps=0.1" in message and "eps=0.3" in message
    assert "lr=0.001" in message and "lr=0.01" in message
    assert "\n" not in message


def test_resume_refuses_a_different_architecture(tmp_path: Path) -> None:
    """Same state dict, another function (Tanh for ReLU): load_state_dict would accept it."""
    ckpt = tmp_path / "run.pt"
    _first_epoch(ckpt, _sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="model: checkpoint"):
        _resume(ckpt, _sequential(nn.Tanh()))
    assert len(_resume(ckpt, _sequential(nn.ReLU()))) == 2


def test_more_epochs_continue_and_fewer_are_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.pt"
    _first_epoch(ckpt, epochs=2)
    assert [h["epoch"] for h in _resume(ckpt, epochs=3)] == [1, 2, 3]
    assert [h["epoch"] for h in _resume(ckpt, epochs=3)] == [1, 2, 3]  # already done
    with pytest.raises(ValueError, match=r"holds 3 epochs.*epochs=2"):
        _resume(ckpt, epochs=2)


def test_a_scheduled_method_keeps_its_epochs(tmp_path: Path) -> None:
    """A certified method's ε ramp spans the run's epochs: changing them changes the past."""
    ckpt = tmp_path / "run.pt"
    method = CertifiedTraining("ibp")
    _first_epoch(ckpt, method=method, epochs=2)
    with pytest.raises(ValueError, match=r"schedule_epochs: checkpoint 2, this run 3"):
        _resume(ckpt, method=method, epochs=3)


def test_a_checkpoint_without_settings_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.pt"
    _first_epoch(ckpt)
    state = torch.load(ckpt, weights_only=True)
    del state["settings"]
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match=r"does not record .* settings.*new checkpoint"):
        _resume(ckpt)


def test_the_same_run_resumes(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.pt"
    _first_epoch(ckpt, seed=4, lr=5e-3, eval_data=_data(8))
    hist = _resume(ckpt, seed=4, lr=5e-3, eval_data=_data(8))
    assert [h["epoch"] for h in hist] == [1, 2]
