"""Access levels: per-sample query accounting, budgets, no autograd for score access,
access-level checks, eval mode with restored flags, and the logits-not-probabilities check."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

import advkit
from advkit.access import (
    LABELS,
    SCORES,
    WHITE_BOX,
    AccessError,
    LabelOnly,
    Oracle,
    QueryBudgetExceeded,
    ScoreOnly,
    WhiteBox,
    as_oracle,
)
from advkit.objectives import CWMargin
from conftest import NoBackward

pytestmark = pytest.mark.usefixtures("single_thread")

ID_SPACING = 0.1


class IdModel(nn.Module):
    """A linear classifier on the first 4 features; feature 4 encodes the sample id.

    Every forward pass records, per sample id, how many rows it evaluated and how many of
    those were evaluated with autograd recording a graph on the input.
    """

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.lin = nn.Linear(4, 3)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(3, 4, generator=g))
            self.lin.bias.copy_(torch.randn(3, generator=g))
        self.eval()
        self.rows: Counter[int] = Counter()
        self.graph_rows: Counter[int] = Counter()
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        ids = ((x[:, 4].detach() - ID_SPACING / 2) / ID_SPACING).round().long().tolist()
        self.rows.update(ids)
        if torch.is_grad_enabled() and x.requires_grad:
            self.graph_rows.update(ids)
        return self.lin(x[:, :4])


def id_inputs(ids: list[int]) -> Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(len(ids), 5, generator=g)
    x[:, 4] = torch.tensor(ids, dtype=torch.float32) * ID_SPACING + ID_SPACING / 2
    return x


def per_sample(counter: Counter[int], n: int) -> list[int]:
    return [counter[i] for i in range(n)]


# ----- query counting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "method"),
    [(LabelOnly, "labels"), (ScoreOnly, "scores"), (WhiteBox, "logits")],
)
def test_each_evaluated_row_is_counted_for_its_sample(cls: type[Oracle], method: str) -> None:
    model = IdModel()
    oracle = cls(model).fresh(4)
    rows = [0, 0, 2, 1, 2, 2, 0]
    with oracle.session():
        out = getattr(oracle, method)(id_inputs(rows), torch.tensor(rows))
        out = getattr(oracle, method)(id_inputs([3]), torch.tensor([3]))
    assert oracle.queries.tolist() == [3, 1, 3, 1]
    assert oracle.queries.tolist() == per_sample(model.rows, 4)
    assert oracle.gradient_calls.tolist() == [0, 0, 0, 0]
    assert model.calls == 2
    assert out.shape[0] == 1


def test_scores_are_probabilities_unless_logits_are_exposed() -> None:
    model = IdModel()
    x = id_inputs([0, 1])
    rows = torch.tensor([0, 1])
    with torch.no_grad():
        z = model(x)
    probs = ScoreOnly(model).fresh(2).scores(x, rows)
    torch.testing.assert_close(probs, z.softmax(dim=1))
    raw = ScoreOnly(model, logits=True).fresh(2).scores(x, rows)
    torch.testing.assert_close(raw, z)
    assert torch.equal(LabelOnly(model).fresh(2).labels(x, rows), z.argmax(dim=1))


def test_value_and_grad_counts_and_returns_the_input_gradient() -> None:
    model = IdModel()
    oracle = WhiteBox(model).fresh(3)
    rows = torch.tensor([2, 0, 2])
    x = id_inputs(rows.tolist())
    y = torch.tensor([0, 1, 2])
    logits, loss, grad = oracle.value_and_grad(x, y, None, CWMargin(kappa=float("inf")), rows)
    assert oracle.gradient_calls.tolist() == [1, 0, 2]
    assert oracle.queries.tolist() == [1, 0, 2]
    assert per_sample(model.graph_rows, 3) == [1, 0, 2]
    assert not (logits.requires_grad or loss.requires_grad or grad.requires_grad)
    # the C&W margin max_{j≠y} z_j − z_y of a linear model has gradient w_j* − w_y
    w = model.lin.weight.detach()
    masked = logits.scatter(1, y[:, None], float("-inf"))
    j = masked.argmax(dim=1)
    torch.testing.assert_close(grad[:, :4], w[j] - w[y])
    assert bool((grad[:, 4] == 0).all())
    torch.testing.assert_close(loss, masked.max(dim=1).values - logits.gather(1, y[:, None])[:, 0])


def test_attack_counts_match_the_models_evaluations() -> None:
    """Through ``advkit.attack``: the charged queries are exactly the rows the attack made
    the model evaluate for that sample; the gradient calls are exactly the rows evaluated
    with a graph. Not charged: one validation row (sample 0). The final re-check
    evaluates nothing again: every returned point is one the attack evaluated."""
    model = IdModel()
    n = 8
    x = id_inputs(list(range(n)))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    y[-2:] = (y[-2:] + 1) % 3  # two samples already misclassified
    model.rows.clear()
    res = advkit.attack(model, x, y, advkit.Linf(0.02), advkit.PGD(steps=4, restarts=2))
    overhead = torch.zeros(n, dtype=torch.long)
    overhead[0] += 1
    assert torch.equal(torch.tensor(per_sample(model.rows, n)), res.queries + overhead)
    assert torch.equal(torch.tensor(per_sample(model.graph_rows, n)), res.gradient_calls)
    assert res.gradient_calls[-2:].tolist() == [0, 0]
    assert res.queries[-2:].tolist() == [1, 1]  # only the clean evaluation


# ----- budgets -----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    budget=st.integers(1, 6),
    batches=st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=5), max_size=8),
)
def test_budget_is_never_exceeded(budget: int, batches: list[list[int]]) -> None:
    model = IdModel()
    oracle = ScoreOnly(model, budget=budget).fresh(3)
    expected = [0, 0, 0]
    with oracle.session():
        for rows in batches:
            calls_before = model.calls
            would = list(expected)
            for r in rows:
                would[r] += 1
            if max(would) > budget:
                with pytest.raises(QueryBudgetExceeded, match=f"budget of {budget}"):
                    oracle.scores(id_inputs(rows), torch.tensor(rows))
                assert model.calls == calls_before  # refused before evaluating anything
            else:
                oracle.scores(id_inputs(rows), torch.tensor(rows))
                expected = would
            assert oracle.queries.tolist() == expected
            assert int(oracle.queries.max()) <= budget
            all_rows = torch.arange(3)
            assert oracle.remaining(all_rows).tolist() == [budget - q for q in expected]


def test_white_box_budget_stops_a_long_attack() -> None:
    model = IdModel()
    x = id_inputs([0, 1])
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    caller_oracle = WhiteBox(model, budget=3)
    with pytest.raises(QueryBudgetExceeded):
        advkit.attack(caller_oracle, x, y, advkit.Linf(1e-4), advkit.PGD(steps=20, restarts=1))
    assert caller_oracle.queries.numel() == 0  # the attack used fresh counters


def test_invalid_budget_and_model() -> None:
    with pytest.raises(ValueError, match="budget"):
        ScoreOnly(IdModel(), budget=0)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        ScoreOnly(lambda x: x)  # type: ignore[arg-type]


# ----- no autograd graph for score/label access --------------------------------------------


class NoBackwardModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.grad_mode_seen: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.grad_mode_seen.append(torch.is_grad_enabled())
        return NoBackward.apply(self.lin(x))


@pytest.mark.parametrize(("cls", "method"), [(ScoreOnly, "scores"), (LabelOnly, "labels")])
def test_score_and_label_access_never_build_a_graph(cls: type[Oracle], method: str) -> None:
    model = NoBackwardModel()
    x = torch.rand(3, 4, requires_grad=True)
    oracle = cls(model).fresh(3)
    out = getattr(oracle, method)(x, torch.arange(3))
    assert out.grad_fn is None and not out.requires_grad
    assert model.grad_mode_seen == [False]
    # the model really would fail if anyone backpropagated through it
    wb = WhiteBox(model).fresh(3)
    with pytest.raises(RuntimeError, match="backward must never run"):
        wb.value_and_grad(x, torch.tensor([0, 1, 2]), None, CWMargin(), torch.arange(3))


# ----- access levels -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_cls", "needs"),
    [(LabelOnly, SCORES), (LabelOnly, WHITE_BOX), (ScoreOnly, WHITE_BOX)],
)
def test_poorer_oracle_raises_access_error(given_cls: type[Oracle], needs: int) -> None:
    with pytest.raises(AccessError, match="access but was given"):
        as_oracle(given_cls(IdModel()), needs, 2)


@pytest.mark.parametrize(
    ("given_cls", "needs"),
    [(WhiteBox, LABELS), (WhiteBox, SCORES), (ScoreOnly, LABELS), (LabelOnly, LABELS)],
)
def test_richer_or_equal_oracle_is_accepted_with_fresh_counters(
    given_cls: type[Oracle], needs: int
) -> None:
    model = IdModel()
    given_oracle = given_cls(model, budget=7)
    given_oracle.queries = torch.tensor([5, 5])
    got = as_oracle(given_oracle, needs, 3)
    assert type(got) is given_cls
    assert got is not given_oracle and got.model is model and got.budget == 7
    assert got.queries.tolist() == [0, 0, 0] and got.gradient_calls.tolist() == [0, 0, 0]
    assert given_oracle.queries.tolist() == [5, 5]


def test_bare_module_is_white_box_and_exposed_logits_survive_fresh() -> None:
    assert type(as_oracle(IdModel(), WHITE_BOX, 2)) is WhiteBox
    oracle = as_oracle(ScoreOnly(IdModel(), logits=True), SCORES, 2)
    assert isinstance(oracle, ScoreOnly) and oracle.expose_logits


@pytest.mark.parametrize("cls", [ScoreOnly, LabelOnly])
def test_attack_with_a_poorer_oracle_raises(cls: type[Oracle]) -> None:
    x = id_inputs([0, 1])
    with pytest.raises(AccessError, match="WhiteBox"):
        advkit.attack(cls(IdModel()), x, torch.tensor([0, 1]), advkit.Linf(0.1), advkit.PGD())
    assert issubclass(AccessError, TypeError)


# ----- eval mode ---------------------------------------------------------------------------


class DropBN(nn.Module):
    """Dropout + batch norm, recording every module's .training flag during forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(8, 4)
        self.flags_seen: list[list[bool]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.flags_seen.append([m.training for m in self.modules()])
        return self.head(self.body(x))


def _flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def _mixed_train_model() -> DropBN:
    model = DropBN().train()
    model.head.eval()  # a mix of flags, to check each one is restored
    return model


@pytest.mark.parametrize("cls", [LabelOnly, ScoreOnly, WhiteBox])
def test_session_uses_eval_mode_and_restores_every_flag(cls: type[Oracle]) -> None:
    model = _mixed_train_model()
    before = _flags(model)
    stats = [t.clone() for t in model.body[1].buffers()]
    oracle = cls(model).fresh(5)
    x = torch.rand(5, 6)
    rng = torch.get_rng_state()
    with pytest.warns(UserWarning, match="training mode"), oracle.session():
        a = oracle.labels(x, torch.arange(5))
        b = oracle.labels(x, torch.arange(5))
    assert torch.equal(a, b)  # dropout off
    assert all(not any(flags) for flags in model.flags_seen)
    assert _flags(model) == before
    assert all(torch.equal(s, t) for s, t in zip(stats, model.body[1].buffers(), strict=True))
    assert torch.equal(torch.get_rng_state(), rng)


def test_flags_are_restored_when_the_call_fails() -> None:
    model = _mixed_train_model()
    before = _flags(model)
    oracle = ScoreOnly(model).fresh(2)
    with (
        pytest.warns(UserWarning),
        pytest.raises(RuntimeError, match="boom"),
        oracle.session(),
    ):
        raise RuntimeError("boom")
    assert _flags(model) == before


def test_attack_on_a_training_mode_model_warns_and_restores() -> None:
    model = _mixed_train_model()
    before = _flags(model)
    stats = [t.clone() for t in model.body[1].buffers()]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 6, generator=g)
    y = torch.randint(0, 4, (6,), generator=g)
    with pytest.warns(UserWarning, match=r"model\.eval\(\)"):
        res = advkit.attack(model, x, y, advkit.Linf(0.1), advkit.BIM(steps=3))
    assert _flags(model) == before
    assert all(not any(flags) for flags in model.flags_seen)
    assert all(torch.equal(s, t) for s, t in zip(stats, model.body[1].buffers(), strict=True))
    with torch.no_grad():
        z = model.eval()(res.x_adv)
    torch.testing.assert_close(res.logits, z)


def test_eval_mode_model_gives_no_warning() -> None:
    model = DropBN().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        advkit.attack(
            model, torch.rand(3, 6), torch.tensor([0, 1, 2]), advkit.L2(0.1), advkit.FGM()
        )


# ----- logits, not probabilities -----------------------------------------------------------


def _softmax_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)).eval()


@pytest.mark.parametrize(("cls", "method"), [(ScoreOnly, "scores"), (LabelOnly, "labels")])
def test_probabilities_model_is_refused(cls: type[Oracle], method: str) -> None:
    oracle = cls(_softmax_model()).fresh(2)
    with pytest.raises(ValueError, match="logits"):
        getattr(oracle, method)(torch.rand(2, 4), torch.arange(2))


def test_probabilities_model_is_refused_by_attack() -> None:
    with pytest.raises(ValueError, match="remove the final softmax"):
        advkit.attack(
            _softmax_model(),
            torch.rand(4, 4),
            torch.tensor([0, 1, 2, 0]),
            advkit.Linf(0.1),
            advkit.FGM(),
        )


def test_log_probabilities_are_accepted_as_logits() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1)).eval()
    x = torch.rand(4, 4)
    res = advkit.attack(model, x, torch.tensor([0, 1, 2, 0]), advkit.Linf(0.1), advkit.FGM())
    assert res.logits.shape == (4, 3)


def test_minimal_eps_needs_white_box_whatever_it_wraps() -> None:
    """MinimalEps judges each run's success on the logits: around a score-only attack it
    still declares white-box access and refuses a score oracle before any query."""
    method = advkit.MinimalEps(advkit.Square(queries=20), search_steps=1)
    assert method.describe().access == advkit.access.Access.WHITE_BOX
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    oracle = advkit.ScoreOnly(model, budget=100)
    with pytest.raises(advkit.access.AccessError, match="WhiteBox"):
        advkit.attack(
            oracle, torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), advkit.Linf(0.1), method
        )
