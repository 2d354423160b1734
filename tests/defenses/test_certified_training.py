"""Certified training through advkit.train and `advkit train --certified`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import advkit
from advkit import cli
from advkit.data import load_dataset


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def test_schedule_warms_up_then_ramps_eps_and_kappa() -> None:
    m = advkit.CertifiedTraining("crown-ibp", kappa_final=0.2, warmup=1, ramp=2)
    s = [m.at(t, 10).schedule() for t in (0.5, 1.0, 2.0, 3.0, 7.0)]
    assert [v["eps_scale"] for v in s] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert s[2]["kappa"] == pytest.approx(0.6) and s[4]["kappa"] == pytest.approx(0.2)
    assert s[0]["beta"] == 1.0 and s[4]["beta"] == 0.0
    assert advkit.CertifiedTraining("ibp").schedule() == {
        "eps_scale": 1.0,
        "kappa": 0.5,
        "beta": 0.0,
    }
    # defaults: 10% warmup, 40% ramp of the run
    assert advkit.CertifiedTraining().at(3.0, 10).schedule()["eps_scale"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs", [{"bound": "crown"}, {"kappa_final": 1.5}, {"beta_final": -0.1}, {"ramp": -1.0}]
)
def test_bad_configuration_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        advkit.CertifiedTraining(**kwargs)


def test_history_logs_schedule_and_certified_accuracy() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 8, 8, generator=g), torch.randint(0, 10, (48,), generator=g)
    torch.manual_seed(0)
    hist = advkit.train(
        _mlp(),
        (x, y),
        advkit.CertifiedTraining("crown-ibp", warmup=0, ramp=2),
        advkit.Linf(0.02),
        epochs=2,
        batch_size=16,
        eval_data=(x[:16], y[:16]),
        progress=False,
    )
    assert [h["eps_scale"] for h in hist] == [0.5, 1.0]
    for h in hist:
        assert (
            max(h["ibp_certified_accuracy"], h["crown_certified_accuracy"])
            <= (h["certified_accuracy"])
        )
        # a certified sample resists PGD too (soundness), so certified ≤ robust ≤ clean
        assert h["certified_accuracy"] <= h["robust_accuracy"] <= h["clean_accuracy"]


@pytest.mark.slow
def test_ibp_training_raises_certified_accuracy_on_digits() -> None:
    x, y = load_dataset("digits", split="train")
    xt, yt = load_dataset("digits", split="test", limit=100)
    threat = advkit.Linf(0.15)
    certified = {}
    for method in (advkit.Standard(), advkit.CertifiedTraining("ibp", warmup=0, ramp=2)):
        torch.manual_seed(0)
        net = _mlp()
        advkit.train(net, (x, y), method, threat, epochs=4, lr=3e-3, progress=False)
        res = advkit.certify(net, xt, yt, threat, advkit.CROWN())
        certified[method.name] = res.certified_accuracy
        clean = float((net(xt).argmax(1) == yt).float().mean())
        assert clean > 0.6, (method.name, clean)
    assert certified["certified"] >= certified["standard"] + 0.1, certified


def test_cli_certified_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.pt"
    args = ["train", "--certified", "ibp", "--arch", "kw-small", "--n", "64", "--eval-n", "16"]
    args += ["--epochs", "2", "--warmup", "0", "--ramp", "1", "--out", str(out), "--quiet"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "certified (IBP / CROWN / either)" in text and "certified-ibp" in text
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["method"] == "certified-ibp"
    assert [h["eps_scale"] for h in record["history"]] == [1.0, 1.0]
    assert all(0.0 <= h["certified_accuracy"] <= 1.0 for h in record["history"])


def test_cli_refuses_method_and_certified_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(
        ["train", "--method", "pgd", "--certified", "ibp", "--out", str(tmp_path / "m.pt")]
    )
    assert rc == 2 and "not both" in capsys.readouterr().err
