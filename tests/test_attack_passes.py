"""What one ``advkit.attack`` call costs in model passes: FGSM runs one forward+backward at
the clean points and one forward at the adversarial points, nothing more; the re-check of
the result reuses the logits of exactly the points the attack evaluated, and evaluates
again (and checks) every point it cannot vouch for."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.access import EOTView, WhiteBox
from advkit.traits import mark_random
from conftest import TinyCNN

pytestmark = pytest.mark.usefixtures("single_thread")

N, MISSED = 16, 3


class Counting(nn.Module):
    """Counts the image rows of every forward pass (with and without autograd) and of every
    backward pass through its output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.forward_rows: list[int] = []
        self.graph_rows: list[int] = []
        self.backward_rows: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.forward_rows.append(x.shape[0])
        out = self.net(x)
        if torch.is_grad_enabled() and x.requires_grad:
            self.graph_rows.append(x.shape[0])
            out.register_hook(lambda g: self.backward_rows.append(g.shape[0]))
        return out


def batch() -> tuple[Counting, Tensor, Tensor]:
    """A tiny CNN and N inputs, the first MISSED of them already misclassified."""
    torch.manual_seed(0)
    net = TinyCNN().eval()
    x = torch.rand(N, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = net(x).argmax(dim=1)
    y[:MISSED] = (y[:MISSED] + 1) % 10
    return Counting(net).eval(), x, y


def test_fgsm_runs_one_forward_backward_and_one_forward_per_attacked_image() -> None:
    model, x, y = batch()
    res = advkit.attack(model, x, y, advkit.Linf(0.05), advkit.FGM())
    attacked = N - MISSED
    # the one-row input check, the clean points (their gradient too), the adversarial points
    assert model.forward_rows == [1, N, attacked]
    assert model.graph_rows == [N] and model.backward_rows == [N]
    assert res.gradient_calls.tolist() == [0] * MISSED + [1] * attacked
    assert res.queries.tolist() == [1] * MISSED + [2] * attacked
    with torch.no_grad():
        torch.testing.assert_close(res.logits, model.net(res.x_adv))


def test_bim_takes_its_first_gradient_from_the_clean_check() -> None:
    model, x, y = batch()
    res = advkit.attack(model, x, y, advkit.Linf(0.01), advkit.BIM(steps=3))
    assert model.graph_rows[0] == N and len(model.graph_rows) == 3  # clean + 2 steps
    assert sum(model.forward_rows) == 1 + int(res.queries.sum())  # no re-check row
    assert int(res.gradient_calls.max()) == 3 and res.gradient_calls[:MISSED].tolist() == [0] * 3


@pytest.mark.parametrize("method", [advkit.PGD(steps=3, restarts=2), advkit.APGD(steps=4)])
def test_the_recheck_evaluates_nothing_the_attack_evaluated(method: advkit.Attack) -> None:
    model, x, y = batch()
    res = advkit.attack(model, x, y, advkit.Linf(0.02), method)
    assert sum(model.forward_rows) == 1 + int(res.queries.sum())
    with torch.no_grad():
        logits = model.net(res.x_adv)
    torch.testing.assert_close(res.logits, logits)
    assert torch.equal(res.success, advkit.objectives.is_successful(logits, y))


def test_a_random_model_is_judged_by_a_fresh_evaluation() -> None:
    """The draw that picked a point must not judge it: every row is evaluated again."""
    model, x, y = batch()
    mark_random(model)
    res = advkit.attack(model, x, y, advkit.Linf(0.05), advkit.FGM())
    assert model.forward_rows[-1] == N
    assert sum(model.forward_rows) == 1 + int(res.queries.sum()) + N


def test_logits_seen_through_a_view_are_not_reused() -> None:
    model, x, y = batch()
    oracle = WhiteBox(model).through(EOTView(2))
    res = advkit.attack(oracle, x, y, advkit.Linf(0.05), advkit.FGM())
    assert model.forward_rows[-1] == N  # the plain model, on every returned point
    assert sum(model.forward_rows) == 1 + int(res.queries.sum()) + N


class NanFrom(nn.Module):
    """Finite logits until the ``bad_call``-th call, NaN from then on."""

    def __init__(self, net: nn.Module, bad_call: int) -> None:
        super().__init__()
        self.net, self.bad_call, self.calls = net, bad_call, 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        out = self.net(x)
        return out * float("nan") if self.calls >= self.bad_call else out


def test_nan_logits_at_the_recheck_are_refused() -> None:
    _, x, y = batch()
    torch.manual_seed(0)
    net = TinyCNN().eval()
    dry = mark_random(NanFrom(net, bad_call=10**6)).eval()
    advkit.attack(dry, x, y, advkit.Linf(0.05), advkit.FGM())
    model = mark_random(NanFrom(net, bad_call=dry.calls)).eval()  # NaN at the re-check only
    with pytest.raises(ValueError, match="NaN or inf logits"):
        advkit.attack(model, x, y, advkit.Linf(0.05), advkit.FGM())


class Sure(nn.Module):
    """TinyCNN's logits with a margin of 100 for class 0: class 0 wins everywhere in the box,
    so no point an attack reaches is ever adversarial."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out + 100.0 * (torch.arange(out.shape[1]) == 0)


@pytest.mark.parametrize(("norm", "steps", "targets"), [("linf", 4, 2), ("l2", 3, 3), ("l1", 5, 1)])
def test_fab_t_judges_each_new_point_with_the_pass_that_linearizes_it(
    norm: str, steps: int, targets: int
) -> None:
    """Each FAB-T step takes one forward+backward pass per row: the pass that judges the new
    point also linearizes it for the next step (every new point here is the next iterate).
    Each round's first step linearizes its start; its last judges with a forward pass
    only. No point is evaluated again for the result."""
    _, x, _ = batch()
    torch.manual_seed(0)
    model = Counting(Sure(TinyCNN().eval())).eval()
    y = torch.zeros(N, dtype=torch.long)
    threat = {"linf": advkit.Linf(0.1), "l2": advkit.L2(0.5), "l1": advkit.L1(2.0)}[norm]
    method = advkit.FABT(steps=steps, target_classes=targets)
    res = advkit.attack(model, x, y, threat, method)
    assert not bool(res.success.any())
    # the one-row input check, the clean logits, then per target class: the start (with its
    # gradient), steps - 1 judging passes (each with the next step's gradient), the last one
    assert model.forward_rows == [1, N] + targets * [N] * (steps + 1)
    assert model.graph_rows == [N] * (targets * steps)
    assert model.backward_rows == [N] * (targets * steps)
    assert res.gradient_calls.tolist() == [targets * steps] * N
    assert res.queries.tolist() == [1 + targets * (steps + 1)] * N
