"""Objectives, the success criterion and target selection, on hand-computed logits."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import Tensor

from advkit.objectives import DLR, CrossEntropy, CWMargin, LogProbMargin, is_successful, margin
from advkit.targets import all_others, least_likely, random_targets, top_others

pytestmark = pytest.mark.usefixtures("single_thread")

# Row 0 sorted: 2 > 1 > 0 > -1 (predicted 0); row 1 sorted: 3 > 2 > 1 > 0 (predicted 1).
LOGITS = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.0, 3.0, 1.0, 2.0]], dtype=torch.float64)
Y = torch.tensor([0, 2])  # row 0 correct, row 1 misclassified
T = torch.tensor([3, 1])  # target: row 0 least likely, row 1 already predicted

# log-sum-exp of {2, 1, 0, -1}; row 1 holds the same values shifted by +1
LSE0 = math.log(math.exp(2) + math.exp(1) + math.exp(0) + math.exp(-1))
LSE1 = LSE0 + 1.0


def close(got: Tensor, want: list[float]) -> None:
    torch.testing.assert_close(got, torch.tensor(want, dtype=got.dtype), atol=1e-12, rtol=0)


def test_cross_entropy_untargeted_and_targeted() -> None:
    ce = CrossEntropy()
    close(ce(LOGITS, Y), [LSE0 - 2.0, LSE1 - 1.0])
    assert abs(LSE0 - 2.0 - 0.4401896985) < 1e-9
    # targeted: minus the cross-entropy of the target
    close(ce(LOGITS, Y, T), [-(LSE0 + 1.0), -(LSE1 - 3.0)])


def test_cw_margin_untargeted_clamps_at_kappa() -> None:
    # max_{j≠y} z_j − z_y: row 0 1 − 2 = −1; row 1 3 − 1 = 2
    close(CWMargin()(LOGITS, Y), [-1.0, 0.0])
    close(CWMargin(kappa=1.5)(LOGITS, Y), [-1.0, 1.5])
    close(CWMargin(kappa=10.0)(LOGITS, Y), [-1.0, 2.0])
    close(CWMargin(kappa=math.inf)(LOGITS, Y), [-1.0, 2.0])


def test_cw_margin_targeted_clamps_at_kappa() -> None:
    # z_t − max_{j≠t} z_j: row 0 −1 − 2 = −3; row 1 3 − 2 = 1
    close(CWMargin()(LOGITS, Y, T), [-3.0, 0.0])
    close(CWMargin(kappa=0.5)(LOGITS, Y, T), [-3.0, 0.5])
    close(CWMargin(kappa=10.0)(LOGITS, Y, T), [-3.0, 1.0])


def test_dlr_untargeted_formula() -> None:
    # −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3)
    # row 0: −(2 − 1) / (2 − 0) = −0.5; row 1: −(1 − 3) / (3 − 1) = 1
    close(DLR()(LOGITS, Y), [-0.5, 1.0])


def test_dlr_targeted_formula() -> None:
    # −(z_y − z_t) / (z_π1 − (z_π3 + z_π4) / 2)
    # row 0: −(2 − (−1)) / (2 − (0 − 1)/2) = −3/2.5; row 1: −(1 − 3) / (3 − (1 + 0)/2) = 2/2.5
    close(DLR()(LOGITS, Y, T), [-1.2, 0.8])


def test_dlr_needs_enough_classes() -> None:
    with pytest.raises(ValueError, match="at least 3 classes"):
        DLR()(torch.randn(2, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="at least 4 classes"):
        DLR()(torch.randn(2, 3), torch.tensor([0, 1]), torch.tensor([1, 2]))


def test_log_prob_margin_values() -> None:
    logp = torch.log_softmax(LOGITS, dim=1)
    # max_{i≠y} log F_i − log F_y equals the logit margin (log-softmax shifts by a constant)
    want_row0 = float(logp[0, 1] - logp[0, 0])
    want_row1 = float(logp[1, 1] - logp[1, 2])
    assert abs(want_row0 - (-1.0)) < 1e-12 and abs(want_row1 - 2.0) < 1e-12
    close(LogProbMargin()(LOGITS, Y), [-1.0, 0.0])
    close(LogProbMargin(kappa=5.0)(LOGITS, Y), [-1.0, 2.0])
    close(LogProbMargin(kappa=5.0)(LOGITS, Y, T), [-3.0, 1.0])
    # accepts log-probabilities as well as logits
    close(LogProbMargin(kappa=5.0)(logp, Y), [-1.0, 2.0])


@pytest.mark.parametrize("cls", [CWMargin, LogProbMargin])
def test_negative_kappa_raises(cls: type) -> None:
    with pytest.raises(ValueError, match="kappa"):
        cls(kappa=-1.0)


def test_margin_and_is_successful() -> None:
    close(margin(LOGITS, Y), [1.0, -2.0])
    assert is_successful(LOGITS, Y).tolist() == [False, True]
    assert is_successful(LOGITS, Y, T).tolist() == [False, True]
    assert is_successful(LOGITS, Y, torch.tensor([0, 3])).tolist() == [True, False]


@st.composite
def logit_batches(draw: st.DrawFn) -> tuple[Tensor, Tensor, Tensor]:
    n = draw(st.integers(1, 5))
    k = draw(st.integers(4, 10))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, k, (n,), generator=g)
    t = (y + torch.randint(1, k, (n,), generator=g)) % k
    return z, y, t


@settings(max_examples=60, deadline=None)
@given(batch=logit_batches(), scale=st.floats(0.01, 100.0), shift=st.floats(-100.0, 100.0))
def test_dlr_is_invariant_to_positive_scaling_and_shifting(
    batch: tuple[Tensor, Tensor, Tensor], scale: float, shift: float
) -> None:
    z, y, t = batch
    srt = z.sort(dim=1, descending=True).values
    assume(bool((srt[:, 0] - srt[:, 2] > 1e-2).all()))
    assume(bool((srt[:, 0] - 0.5 * (srt[:, 2] + srt[:, 3]) > 1e-2).all()))
    moved = scale * z + shift
    torch.testing.assert_close(DLR()(moved, y), DLR()(z, y), atol=1e-8, rtol=1e-6)
    torch.testing.assert_close(DLR()(moved, y, t), DLR()(z, y, t), atol=1e-8, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(batch=logit_batches())
def test_untargeted_losses_agree_with_success(batch: tuple[Tensor, Tensor, Tensor]) -> None:
    z, y, t = batch
    success = is_successful(z, y)
    cw = CWMargin(kappa=math.inf)
    assert torch.equal(cw(z, y) > 0, success)
    assert torch.equal(DLR()(z, y) > 0, success)
    assert torch.equal(cw(z, y, t) > 0, is_successful(z, y, t))


# ----- targets -----------------------------------------------------------------------------


def _gens(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_random_targets_never_equal_y_and_cover_all_other_classes() -> None:
    k = 5
    y = torch.arange(400) % k
    t = random_targets(y, k, _gens(list(range(400))))
    assert t.shape == y.shape and t.dtype == y.dtype
    assert not bool((t == y).any())
    assert bool(((t >= 0) & (t < k)).all())
    for label in range(k):
        seen = set(t[y == label].tolist())
        assert seen == set(range(k)) - {label}


def test_random_targets_are_deterministic_per_generator() -> None:
    y = torch.tensor([0, 1, 2, 3])
    a = random_targets(y, 10, _gens([7, 8, 9, 10]))
    b = random_targets(y, 10, _gens([7, 8, 9, 10]))
    assert torch.equal(a, b)
    # a sample's target depends only on its own generator
    c = random_targets(y[2:], 10, _gens([9, 10]))
    assert torch.equal(c, a[2:])
    with pytest.raises(ValueError, match="at least 2 classes"):
        random_targets(torch.tensor([0]), 1, _gens([0]))


def test_least_likely() -> None:
    assert least_likely(LOGITS).tolist() == [3, 0]


def test_top_others_excludes_y_and_is_sorted_by_logit() -> None:
    assert top_others(LOGITS, Y, 2).tolist() == [[1, 2], [1, 3]]
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20, 7, generator=g)
    y = torch.randint(0, 7, (20,), generator=g)
    top = top_others(z, y, 6)
    assert top.shape == (20, 6)
    assert not bool((top == y[:, None]).any())
    vals = z.gather(1, top)
    assert bool((vals[:, :-1] >= vals[:, 1:]).all())
    for i in range(20):
        assert sorted(top[i].tolist()) == sorted(set(range(7)) - {int(y[i])})
    for bad in (0, 7):
        with pytest.raises(ValueError, match="k must be"):
            top_others(z, y, bad)


def test_all_others() -> None:
    out = all_others(torch.tensor([0, 2, 3]), 4)
    assert out.tolist() == [[1, 2, 3], [0, 1, 3], [0, 1, 2]]
