"""Checkpoint reading: weights_only always, layouts unwrapped, unsafe files refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from advkit.models import UnsafeCheckpointError, load_model
from advkit.models.architectures import kw_small
from advkit.models.checkpoint import extract_state_dict, load_checkpoint, load_state_dict_file


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return kw_small(1, 28).state_dict()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s,
        lambda s: {"state_dict": s, "epoch": 3, "acc": torch.tensor(980)},
        lambda s: {"model": s, "optimizer": {"lr": 0.1}},
        lambda s: {"model_state_dict": s},
        lambda s: {"state_dict": [s, s], "err": 0.33},
        lambda s: {f"module.{k}": v for k, v in s.items()},
        lambda s: {"net": {f"module.{k}": v for k, v in s.items()}},
    ],
    ids=["bare", "state_dict", "model", "model_state_dict", "cascade", "dataparallel", "net"],
)
def test_layouts(tmp_path: Path, wrap: Any):
    state = _state()
    torch.save(wrap(state), tmp_path / "ckpt.pth")
    loaded = load_state_dict_file(tmp_path / "ckpt.pth")
    assert list(loaded) == list(state)
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value)


def test_no_state_dict_lists_top_level_keys():
    with pytest.raises(
        ValueError, match=r"no state dict found \(top level: dict with keys \['epoch'"
    ):
        extract_state_dict({"epoch": 3, "weights": "nope"}, "ckpt")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_refused(tmp_path: Path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Payload(marker)}, tmp_path / "m.pt")
    with pytest.raises(UnsafeCheckpointError, match="refuses to unpickle untrusted code"):
        load_checkpoint(tmp_path / "m.pt")
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        load_model(tmp_path / "m.pt", factory=lambda: kw_small(1, 28))
    assert not marker.exists()


def test_whole_pickled_model_refused(tmp_path: Path):
    torch.save(nn.Linear(2, 2), tmp_path / "full.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"torch\.save\(model\.state_dict\(\), path\)"):
        load_checkpoint(tmp_path / "full.pt")


def test_not_a_checkpoint(tmp_path: Path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises((ValueError, UnsafeCheckpointError)):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_torch_load_always_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    torch.save(_state(), tmp_path / "w.pt")
    load_model(tmp_path / "w.pt", factory=lambda: kw_small(1, 28))
    assert calls == [{"map_location": "cpu", "weights_only": True}]
