"""advkit.engine.Best: the best-so-far record only ever improves."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from advkit.engine import Best

N = 4

Update = tuple[list[int], list[float], list[bool]]
"""Positions to update, their scores and successes (only the first len(positions) used)."""

update = st.tuples(
    st.lists(st.integers(0, N - 1), min_size=1, max_size=N, unique=True),
    st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=N, max_size=N),
    st.lists(st.booleans(), min_size=N, max_size=N),
)


def _apply(best: Best, step: Update, tag: float) -> Tensor:
    pos, scores, oks = step
    local = torch.tensor(pos)
    m = local.numel()
    x = torch.full((m, 2), tag)
    return best.update(local, x, torch.tensor(scores[:m]), torch.tensor(oks[:m]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=N, max_size=N), st.lists(update, max_size=8))
def test_maximizing_record_never_gets_worse(clean: list[bool], steps: list[Update]) -> None:
    best = Best.maximizing(torch.zeros(N, 2), torch.tensor(clean), torch.zeros(N))
    for t, step in enumerate(steps, start=1):
        old_s, old_v, old_x = best.success.clone(), best.score.clone(), best.x.clone()
        better = _apply(best, step, float(t))
        # lexicographic (success, score) never decreases
        kept = best.success == old_s
        assert bool((best.success >= old_s).all())
        assert bool((best.score[kept] >= old_v[kept]).all())
        # a row changes exactly when the update says it improved
        changed = torch.zeros(N, dtype=torch.bool)
        changed[torch.tensor(step[0])[better]] = True
        assert torch.equal((best.x != old_x).any(dim=1), changed)
        assert bool((best.x[changed] == t).all())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=N, max_size=N), st.lists(update, max_size=8))
def test_minimizing_record_never_gets_worse(clean: list[bool], steps: list[Update]) -> None:
    best = Best.minimizing(torch.zeros(N, 2), torch.tensor(clean))
    assert best.score.tolist() == [0.0 if c else math.inf for c in clean]
    for t, step in enumerate(steps, start=1):
        old_s, old_v = best.success.clone(), best.score.clone()
        _apply(best, step, float(t))
        assert bool((best.success >= old_s).all())
        assert bool((best.score <= old_v).all())
        # only successes are recorded: a finite score is a success
        assert torch.equal(torch.isfinite(best.score), best.success)


def test_minimizing_ignores_failures_and_keeps_the_least_score() -> None:
    best = Best.minimizing(torch.zeros(2, 1), torch.tensor([False, False]))
    local = torch.tensor([0, 1])
    best.update(local, torch.ones(2, 1), torch.tensor([3.0, 0.5]), torch.tensor([True, False]))
    best.update(
        local, torch.full((2, 1), 2.0), torch.tensor([4.0, 1.0]), torch.tensor([True, True])
    )
    best.update(
        local, torch.full((2, 1), 3.0), torch.tensor([2.0, 0.1]), torch.tensor([True, False])
    )
    assert best.x.flatten().tolist() == [3.0, 2.0]
    assert best.score.tolist() == [2.0, 1.0]
    assert best.unbroken().numel() == 0


def test_maximizing_prefers_success_then_score() -> None:
    best = Best.maximizing(torch.zeros(2, 1), torch.tensor([False, False]), torch.zeros(2))
    local = torch.tensor([1, 0])
    best.update(local, torch.ones(2, 1), torch.tensor([5.0, -1.0]), torch.tensor([False, True]))
    # row 0 took the success despite a lower score; row 1 the higher score
    assert best.success.tolist() == [True, False] and best.score.tolist() == [-1.0, 5.0]
    best.update(
        local, torch.full((2, 1), 2.0), torch.tensor([9.0, 9.0]), torch.tensor([False, False])
    )
    assert best.x.flatten().tolist() == [1.0, 2.0]
    assert best.unbroken().tolist() == [1]


def test_the_record_keeps_the_logits_of_its_best_points() -> None:
    z0 = torch.zeros(3, 2)
    best = Best.maximizing(torch.zeros(3, 2), torch.tensor([False] * 3), torch.zeros(3), z0)
    assert best.known.tolist() == [True] * 3
    z = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    better = best.update(
        torch.tensor([0, 2]),
        torch.ones(2, 2),
        torch.tensor([1.0, -1.0]),
        torch.tensor([False] * 2),
        z,
    )
    assert better.tolist() == [True, False]
    assert best.logits is not None and best.logits.tolist() == [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]
    best.update(torch.tensor([1]), torch.ones(1, 2), torch.tensor([5.0]), torch.tensor([False]))
    assert best.known.tolist() == [True, False, True]  # a point recorded without its logits
