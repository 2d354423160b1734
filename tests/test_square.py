"""Square attack (score-only): no autograd ever, exact per-sample query counts, budgets,
ball and box, determinism, and the published strength on the natural LeNet5."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import L0, L2, LabelOnly, Linf, ScoreOnly, Square
from advkit.access import AccessError
from advkit.data import load_dataset
from advkit.models import load_model
from conftest import NoBackward, TinyCNN, require_shared

pytestmark = pytest.mark.usefixtures("single_thread")


class Counting(nn.Module):
    """The tiny CNN; counts evaluated rows per sample (sample id = row of ``ids``) and
    fails on backward."""

    def __init__(self, x0: Tensor) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = TinyCNN().eval()
        self.x0 = x0
        self.rows: Counter[int] = Counter()
        self.grad_mode: set[bool] = set()
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        self.grad_mode.add(torch.is_grad_enabled())
        # a row belongs to the clean sample it is closest to (perturbations are small)
        d = torch.cdist(x.flatten(1), self.x0.flatten(1))
        self.rows.update(d.argmin(dim=1).tolist())
        return NoBackward.apply(self.net(x))


def _batch() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(4)
    x = torch.rand(6, 1, 8, 8, generator=g)
    torch.manual_seed(0)
    with torch.no_grad():
        y = TinyCNN().eval()(x).argmax(dim=1)
    return x, y


@pytest.mark.parametrize("threat", [Linf(0.03), L2(0.15)], ids=["linf", "l2"])
def test_queries_are_exact_and_within_budget_without_autograd(threat: advkit.ThreatModel) -> None:
    x, y = _batch()
    model = Counting(x)
    res = advkit.attack(ScoreOnly(model, budget=40), x, y, threat, Square(queries=1000))
    # outside the oracle: the input check evaluates sample 0, the final re-check all
    counted = [model.rows[i] - 1 - (i == 0) for i in range(len(y))]
    assert res.queries.tolist() == counted
    assert bool((res.queries <= 40).all())
    assert bool((res.queries[~res.success] == 40).all())  # unbroken samples spend it all
    assert model.grad_mode == {False}
    assert bool((res.gradient_calls == 0).all())
    assert bool((res.distance <= float(threat.eps) + 1e-6).all())
    assert float(res.x_adv.min()) >= 0 and float(res.x_adv.max()) <= 1


def test_needs_scores_and_refuses_other_norms_and_shapes() -> None:
    x, y = _batch()
    model = TinyCNN().eval()
    with pytest.raises(AccessError, match="ScoreOnly"):
        advkit.attack(LabelOnly(model), x, y, Linf(0.1), Square())
    with pytest.raises(ValueError, match=r"L∞ and L2 and L1 threats only; .* not L0"):
        advkit.attack(ScoreOnly(model), x, y, L0(3), Square())
    flat = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    with pytest.raises(ValueError, match="image inputs"):
        advkit.attack(ScoreOnly(flat), x.flatten(1), y, Linf(0.1), Square())
    with pytest.raises(ValueError, match="queries"):
        Square(queries=1)


def test_more_queries_never_lose_a_success_and_seeds_are_per_sample() -> None:
    x, y = _batch()
    model = TinyCNN().eval()
    short = advkit.attack(ScoreOnly(model), x, y, Linf(0.05), Square(queries=30))
    long = advkit.attack(ScoreOnly(model), x, y, Linf(0.05), Square(queries=300))
    assert bool((long.success >= short.success).all())
    assert int(long.success.sum()) > 0
    part = advkit.attack(
        ScoreOnly(model), x[2:4], y[2:4], Linf(0.05), Square(queries=300), index=torch.arange(2, 4)
    )
    torch.testing.assert_close(part.x_adv, long.x_adv[2:4], atol=1e-5, rtol=0)
    assert torch.equal(part.queries, long.queries[2:4])


def test_logit_scores_give_the_same_attack() -> None:
    x, y = _batch()
    model = TinyCNN().eval()
    a = advkit.attack(ScoreOnly(model), x, y, L2(0.3), Square(queries=100))
    b = advkit.attack(ScoreOnly(model, logits=True), x, y, L2(0.3), Square(queries=100))
    assert torch.equal(a.success, b.success)


@pytest.mark.slow
def test_square_breaks_natural_lenet5_at_eps_03() -> None:
    """Natural LeNet5, L∞ ε = 0.3, 100 MNIST test images: Square succeeds on ≥ 95%
    (measured: 100%, median 33 queries, at most 278)."""
    shared = require_shared()
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=100)
    model = load_model("lenet5-natural")
    res = advkit.attack(ScoreOnly(model, budget=5000), x, y, Linf(0.3), Square())
    assert res.success_rate >= 0.95
    assert bool((res.queries <= 5000).all())
