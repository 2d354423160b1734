"""``precision="bf16"``: the model runs under autocast, and only float32 confirms success.

The model below is built so that its bfloat16 and float32 predictions differ on purpose:
z0 = 1.0039·x and z1 = x + 0.003 on x ∈ [0.9, 0.98]. In float32 z0 − z1 ≥ 0.0005 on the
whole ball (class 0, robust); in bfloat16 the weight 1.0039 rounds to 1 and x + 0.003
rounds up to the next bfloat16 above x, so class 1 wins everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import PGD, Linf
from advkit.store import StoreMismatch
from conftest import TinyCNN

pytestmark = pytest.mark.usefixtures("single_thread")


class Recorder(nn.Module):
    """``inner``, recording the dtype of each of its outputs (autocast shows in it)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[torch.dtype] = []

    def forward(self, x: Tensor) -> Tensor:
        out = self.inner(x)
        self.seen.append(out.dtype)
        return out


def rounding_flips() -> tuple[Recorder, Tensor, Tensor]:
    """The model whose bf16 prediction (1) is not its fp32 one (0), with its batch."""
    lin = nn.Linear(1, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0039], [1.0]]))
        lin.bias.copy_(torch.tensor([0.0, 0.003]))
    model = Recorder(nn.Sequential(nn.Flatten(), lin)).eval()
    x = torch.linspace(0.9, 0.98, 8).reshape(8, 1)
    return model, x, torch.zeros(8, dtype=torch.long)


def test_the_model_disagrees_with_itself_in_bf16() -> None:
    model, x, y = rounding_flips()
    with torch.no_grad():
        assert bool((model(x).argmax(1) == y).all())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert bool((model(x).argmax(1) == 1).all())


def test_a_bf16_success_float32_does_not_confirm_is_no_success() -> None:
    model, x, y = rounding_flips()
    res = advkit.attack(model, x, y, Linf(0.01), PGD(steps=3), precision="bf16")
    assert torch.bfloat16 in model.seen  # the attack saw the model in bfloat16
    assert model.seen[-1] == torch.float32  # and the last forward, the re-check, in fp32
    assert int(res.gradient_calls.sum()) == 0  # bf16 found every clean point adversarial
    assert not bool(res.success.any())
    assert res.logits.dtype == torch.float32 and bool((res.logits.argmax(1) == 0).all())


def test_bf16_runs_forward_and_backward_under_autocast(tiny_cnn: nn.Module) -> None:
    model = Recorder(tiny_cnn).eval()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = tiny_cnn(x).argmax(1)
    res = advkit.attack(model, x, y, Linf(0.1), PGD(steps=4, restarts=1), precision="bf16")
    assert model.seen.count(torch.bfloat16) >= 4 and int(res.gradient_calls.sum()) > 0
    assert res.x_adv.dtype == x.dtype == torch.float32
    with torch.no_grad():  # success is the float32 model's verdict
        assert torch.equal(res.success, tiny_cnn(res.x_adv).argmax(1) != y)
    assert all(p.grad is None for p in tiny_cnn.parameters())


def test_evaluate_in_bf16_confirms_in_fp32() -> None:
    model, x, y = rounding_flips()
    ev = advkit.evaluate(
        model, (x, y), Linf(0.01), [("pgd", PGD(steps=2, restarts=1))], progress=False,
        checks=False, precision="bf16",
    )  # fmt: skip
    assert ev.robust_accuracy == 1.0


def test_an_unknown_precision_is_refused() -> None:
    model, x, y = TinyCNN().eval(), torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="unknown precision 'fp8'; use one of fp32, bf16, fp16"):
        advkit.attack(model, x, y, Linf(0.1), PGD(steps=1), precision="fp8")


def test_a_store_of_another_precision_is_not_resumed(tmp_path: Path) -> None:
    model, x, y = rounding_flips()
    suite = [("pgd", PGD(steps=2, restarts=1))]
    store = tmp_path / "run.sqlite"
    advkit.evaluate(model, (x, y), Linf(0.01), suite, progress=False, checks=False, store=store)
    with pytest.raises(StoreMismatch):
        advkit.evaluate(
            model, (x, y), Linf(0.01), suite, progress=False, checks=False, store=store,
            precision="bf16",
        )  # fmt: skip
