"""Robust training: Danskin gradients, mode handling, resume, and a real robustness gain."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import advkit
from advkit.data import load_dataset
from advkit.demo import digits_cnn
from conftest import TinyCNN


def _batch(n: int = 16, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


class DropNet(nn.Module):
    """TinyCNN with dropout, to tell train mode from eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.body = TinyCNN()
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.body(x))


def test_adversarial_loss_gradient_is_autograd_at_the_attack_point() -> None:
    torch.manual_seed(0)
    model = TinyCNN().train()
    x, y = _batch()
    threat, method = advkit.Linf(0.1), advkit.PGD(steps=5, restarts=1)
    loss = advkit.adversarial_loss(model, x, y, threat, method, seed=7)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    model.eval()
    x_adv = advkit.attack(model, x, y, threat, method, seed=7).x_adv
    model.train()
    assert model.training and all(m.training for m in model.modules())
    ref = torch.autograd.grad(F.cross_entropy(model(x_adv), y), list(model.parameters()))
    assert not torch.equal(x_adv, x)
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r)


def test_attack_runs_in_eval_mode_and_train_mode_is_restored() -> None:
    torch.manual_seed(0)
    model = DropNet().train()
    model.body.eval()  # a submodule the caller froze stays frozen
    x, y = _batch()
    with torch.random.fork_rng():
        a = advkit.adversarial_loss(model, x, y, advkit.Linf(0.1), advkit.FGM(), reduction="none")
    assert a.shape == (16,)
    assert model.training and model.drop.training and not model.body.training


def test_losses_per_sample_and_nonnegative_trades_term() -> None:
    torch.manual_seed(0)
    model = TinyCNN().train()
    x, y = _batch()
    idx = torch.arange(16)
    threat = advkit.Linf(0.1)
    clean = advkit.Standard().loss(model, x, y, threat, idx, 0)
    for method in [
        advkit.FGSMTraining(),
        advkit.PGDTraining(steps=3),
        advkit.FastFGSM(),
        advkit.TRADES(steps=3),
    ]:
        loss = method.loss(model, x, y, threat, idx, 0)
        assert loss.shape == (16,) and torch.isfinite(loss).all()
        # every adversarial loss is at least the clean loss on average (the attack ascends)
        assert float(loss.detach().mean()) >= float(clean.detach().mean()) - 1e-5, method
    with pytest.raises(ValueError, match="clean_weight"):
        advkit.FGSMTraining(clean_weight=1.5)
    with pytest.raises(ValueError, match="needs a threat"):
        advkit.train(TinyCNN(), (x, y), advkit.PGDTraining(), epochs=1, progress=False)


def test_resume_gives_the_same_weights(tmp_path: Path) -> None:
    x, y = _batch(64, seed=5)
    threat = advkit.Linf(0.1)

    def fresh() -> nn.Module:
        torch.manual_seed(1)
        return TinyCNN()

    full = fresh()
    hist = advkit.train(full, (x, y), advkit.FastFGSM(), threat, epochs=2, progress=False)
    ckpt = tmp_path / "run.pt"
    part = fresh()
    advkit.train(part, (x, y), advkit.FastFGSM(), threat, epochs=1, checkpoint=ckpt)
    resumed = fresh()
    hist2 = advkit.train(
        resumed, (x, y), advkit.FastFGSM(), threat, epochs=2, checkpoint=ckpt, resume=True
    )
    assert [h["epoch"] for h in hist2] == [1, 2]
    assert hist2[1]["loss"] == pytest.approx(hist[1]["loss"], rel=1e-5)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 2


@pytest.mark.slow
def test_pgd_training_beats_standard_training_under_apgd() -> None:
    """On the real digits data, a few epochs of PGD training raise APGD robust accuracy
    at ε = 0.2 far above standard training's (measured 0.02 vs 0.3 with PGD-3 and 10
    epochs; the margin below leaves room for the shorter schedule)."""
    x, y = load_dataset("digits", split="train")
    xt, yt = load_dataset("digits", split="test")
    xt, yt = xt[:150], yt[:150]
    threat = advkit.Linf(0.2)
    accs = {}
    for method in [advkit.Standard(), advkit.PGDTraining(steps=2)]:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = digits_cnn()
        hist = advkit.train(
            model,
            (x, y),
            method,
            threat,
            epochs=6,
            batch_size=128,
            lr=3e-3,
            progress=False,
            eval_data=(xt[:50], yt[:50]),
        )
        ev = advkit.evaluate(model, (xt, yt), threat, "fast", progress=False)
        accs[method.name] = (ev.clean_accuracy, ev.robust_accuracy, hist[-1])
    std_clean, std_robust, _ = accs["standard"]
    pgd_clean, pgd_robust, pgd_last = accs["pgd"]
    assert std_clean > 0.85 and pgd_clean > 0.8, accs
    assert std_robust < 0.1 and pgd_robust > std_robust + 0.1, accs
    assert 0.0 <= pgd_last["robust_accuracy"] <= pgd_last["clean_accuracy"]


def test_gradient_norm_loss_is_ce_plus_dual_norm_penalty() -> None:
    torch.manual_seed(0)
    model = TinyCNN().train()
    x, y = _batch()
    threat = advkit.Linf(0.1)
    loss = advkit.GradientNorm(lam=0.5, max_weight=0.2).loss(
        model, x, y, threat, torch.arange(16), 0
    )
    xg = x.clone().requires_grad_(True)
    ce = F.cross_entropy(model(xg), y, reduction="none")
    (g,) = torch.autograd.grad(ce.sum(), xg)
    l1 = g.abs().flatten(1).sum(1)  # the dual of L∞
    torch.testing.assert_close(loss.detach(), ce.detach() + 0.5 * l1 + 0.2 * l1.max())
    loss.mean().backward()  # double back-propagation reaches the parameters
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())


def test_distillation_and_ensemble_losses() -> None:
    torch.manual_seed(0)
    teacher, student, static = TinyCNN().eval(), TinyCNN().train(), TinyCNN().eval()
    x, y = _batch()
    idx, threat = torch.arange(16), advkit.Linf(0.1)
    soft = advkit.Distillation(teacher, temperature=10.0).loss(student, x, y, threat, idx, 0)
    p = F.softmax(teacher(x) / 10, dim=1)
    ref = -(p * F.log_softmax(student(x) / 10, dim=1)).sum(1)
    torch.testing.assert_close(soft, ref)
    hard = advkit.Distillation(temperature=1.0).loss(student, x, y, threat, idx, 0)
    torch.testing.assert_close(hard, F.cross_entropy(student(x), y, reduction="none"))
    ens = advkit.EnsembleAdversarial((static,))
    assert {ens.source(torch.tensor([k]), 0) for k in range(40)} == {0, 1}
    loss = ens.loss(student, x, y, threat, idx, 0)
    assert loss.shape == (16,) and student.training
    with pytest.raises(ValueError, match="static model"):
        advkit.EnsembleAdversarial(())
