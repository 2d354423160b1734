"""Gradient-masking checks: each flag fires on a model with that symptom and not on a
healthy one; `advkit evaluate --adaptive` re-runs with the attacks the flags name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import cli
from advkit.defenses.transforms import JPEG
from advkit.evaluate.sanity import check_gradient_masking
from advkit.traits import mark_random
from conftest import TinyCNN


class Quantize(nn.Module):
    """A home-made non-differentiable layer (not an advkit transform): zero gradients."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * 2) / 2


class Noisy(nn.Module):
    """Adds noise from its own generator on every call (random, undeclared)."""

    def __init__(self) -> None:
        super().__init__()
        self.gen = torch.Generator().manual_seed(0)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.01 * torch.randn(x.shape, generator=self.gen)


def _data(model: nn.Module, n: int = 24) -> tuple[Tensor, Tensor]:
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return x, model(x).argmax(1)


def _checks(model: nn.Module, **kw: object) -> set[str]:
    model.eval()
    x, y = _data(model)
    return {f.check for f in check_gradient_masking(model, (x, y), advkit.Linf(0.1), **kw)}  # type: ignore[arg-type]


def test_each_symptom_raises_its_flag() -> None:
    torch.manual_seed(0)
    net = TinyCNN().eval()
    assert _checks(net) == set()
    assert "zero-gradients" in _checks(nn.Sequential(Quantize(), net))
    assert "zero-gradients" in _checks(nn.Sequential(JPEG(), net), adaptive=False)
    assert "zero-gradients" not in _checks(nn.Sequential(JPEG(), net), adaptive=True)
    assert "probabilities" in _checks(nn.Sequential(net, nn.Softmax(dim=1)))
    assert "probabilities" in _checks(nn.Sequential(net, nn.LogSoftmax(dim=1)))
    noisy = nn.Sequential(Noisy(), net)
    assert "nondeterministic" in _checks(noisy)
    mark_random(noisy[0])
    assert "nondeterministic" not in _checks(noisy, eot_samples=2)
    x, y = _data(net)
    flat = check_gradient_masking(
        net, (x, y), advkit.Linf(0.1), curve=[(0.1, 0.5), (0.2, 0.5), (0.4, 0.5)]
    )
    assert "flat-curve" in {f.check for f in flat}


def test_evaluate_reports_flags_loudly() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(Quantize(), TinyCNN()).eval()
    x, y = _data(model)
    ev = advkit.evaluate(model, (x, y), advkit.Linf(0.2), "fast", progress=False)
    assert any(f.check == "zero-gradients" for f in ev.masking)
    assert "WARNING: possible gradient masking" in ev.table()
    assert ev.to_dict()["masking"] == [f.to_dict() for f in ev.masking]
    quiet = advkit.evaluate(model, (x, y), advkit.Linf(0.2), "fast", progress=False, checks=False)
    assert quiet.masking == []


def test_cli_adaptive_reruns_with_the_named_attacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    net = TinyCNN().eval()
    masked = nn.Sequential(Quantize(), net).eval()
    monkeypatch.setattr("advkit.cli.common.demo_model", lambda: masked)
    out = tmp_path / "ev.json"
    args = ["evaluate", "--n", "40", "--eps", "0.3", "--suite", "fast", "--quiet"]
    assert cli.main([*args, "--adaptive", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "zero-gradients" in text and "--adaptive: re-evaluated" in text
    result = json.loads(out.read_text())
    before = result["before_adaptive"]
    assert result["suite"] == ["apgd-ce", "fgsm", "noise"]
    assert result["robust_accuracy"] <= before["robust_accuracy"]
