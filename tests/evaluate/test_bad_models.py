"""A model that returns NaN or inf on clean inputs is an error naming the model and the
samples, at every entry point (``attack``, ``evaluate``, ``certify`` and the command line),
never an evaluation reporting "0% robust"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import FGM, IBP, Linf, cli
from advkit.demo import digits_cnn

pytestmark = pytest.mark.usefixtures("single_thread")

ENTRIES = ["attack", "evaluate", "certify"]


def call(entry: str, model: nn.Module, x: Tensor, y: Tensor) -> Any:
    threat = Linf(0.05)
    if entry == "attack":
        return advkit.attack(model, x, y, threat, FGM())
    if entry == "certify":
        return advkit.certify(model, x, y, threat, IBP())
    return advkit.evaluate(model, (x, y), threat, "fast", progress=False, batch_size=4)


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).eval()


def batch() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 8, 8, generator=g) * 0.9
    return x, torch.randint(0, 10, (8,), generator=g)


class BlowsUp(nn.Module):
    """Finite weights, but logits divide by (1 - first pixel): inf where that pixel is 1."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x) / (1 - x.flatten(1)[:, :1])


@pytest.mark.parametrize("entry", ENTRIES)
def test_nan_weights_are_refused_up_front(entry: str) -> None:
    model = mlp()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    x, y = batch()
    with pytest.raises(ValueError, match=r"Sequential.*parameter '1\.weight'.*NaN.*checkpoint"):
        call(entry, model, x, y)


@pytest.mark.parametrize("entry", ENTRIES)
def test_logits_that_overflow_to_inf_are_refused(entry: str) -> None:
    model = mlp()
    with torch.no_grad():
        model[1].bias.fill_(10.0)  # every hidden unit active
        model[3].weight.fill_(3e38)  # finite weights, logits beyond float32
    x, y = batch()
    with pytest.raises(
        ValueError,
        match=r"model Sequential.*returned NaN or inf logits on clean inputs \(samples \[0.*fp16",
    ):
        call(entry, model, x, y)


@pytest.mark.parametrize("entry", ["evaluate", "certify"])
def test_every_clean_input_is_checked_and_named(entry: str) -> None:
    """Sample 0 is fine; the clean pass finds sample 5 (in the second batch of 4)."""
    x, y = batch()
    x[5, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match=r"model BlowsUp.*clean inputs \(samples \[5\]\)"):
        call(entry, BlowsUp().eval(), x, y)


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--suite", "fast"],
        ["attack", "--attack", "fgm"],
        ["certify", "--method", "ibp"],
    ],
)
def test_a_checkpoint_with_nan_weights_is_a_clean_cli_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = digits_cnn().state_dict()
    state["0.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    model = ["--model", "advkit.demo:digits_cnn", "--checkpoint", str(tmp_path / "nan.pt")]
    args = ["--dataset", "digits", "--n", "8", "--eps", "0.1", "--quiet"]
    out = ["--out", str(tmp_path / ("o.npz" if command[0] == "attack" else "o.json"))]
    assert cli.main([*command, *model, *args, *out]) == 2
    err = capsys.readouterr().err
    assert "parameter '0.weight' holds NaN" in err and "checkpoint" in err
    assert "Traceback" not in err
