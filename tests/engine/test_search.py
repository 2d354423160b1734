"""advkit.engine.ConstSearch: ×10 until a round succeeds, then bisection."""

from __future__ import annotations

import torch

from advkit.engine import ConstSearch


def test_multiplies_by_ten_then_bisects() -> None:
    s = ConstSearch.start(1, 1e-3)
    history = []
    for ok in (False, False, True, False, True):
        s.update(torch.tensor([0]), torch.tensor([ok]))
        history.append(float(s.c[0]))
    lo, hi = 1e-2, 1e-1  # the last failure and the first success
    mid = (lo + hi) / 2
    want = [1e-2, 1e-1, mid, (mid + hi) / 2, (mid + (mid + hi) / 2) / 2]
    torch.testing.assert_close(
        torch.tensor(history, dtype=torch.float64), torch.tensor(want, dtype=torch.float64)
    )
    torch.testing.assert_close(float(s.lower[0]), mid)
    torch.testing.assert_close(float(s.upper[0]), (mid + hi) / 2)


def test_success_at_the_first_constant_bisects_towards_zero() -> None:
    s = ConstSearch.start(2, 1.0)
    s.update(torch.tensor([0, 1]), torch.tensor([True, True]))
    assert s.c.tolist() == [0.5, 0.5] and s.upper.tolist() == [1.0, 1.0]
    s.update(torch.tensor([0, 1]), torch.tensor([True, False]))
    assert s.c.tolist() == [0.25, 0.75]


def test_only_the_rows_of_the_round_move() -> None:
    s = ConstSearch.start(3, 1.0)
    s.update(torch.tensor([2, 0]), torch.tensor([True, False]))
    assert s.c.tolist() == [10.0, 1.0, 0.5]
    assert s.c.dtype == torch.float64
