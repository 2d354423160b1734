"""advkit.engine.Adam: torch.optim.Adam per element, with masks, compaction and reset."""

from __future__ import annotations

import torch
from torch import Tensor

from advkit.engine import Adam


def _grad(w: Tensor) -> Tensor:
    """Gradient of a fixed quadratic with different curvatures per coordinate."""
    scale = torch.linspace(0.1, 3.0, w.shape[-1], dtype=w.dtype)
    return scale * (w - 1.0) + 0.05 * w**3


def test_matches_torch_adam_on_one_sample_for_20_steps() -> None:
    w0 = torch.randn(1, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = w0.clone().requires_grad_(True)
    torch_opt = torch.optim.Adam([ref], lr=0.05, betas=(0.8, 0.99), eps=1e-8)
    w = w0.clone()
    ours = Adam.like(w, lr=0.05, beta1=0.8, beta2=0.99)
    for _ in range(20):
        torch_opt.zero_grad()
        ref.grad = _grad(ref.detach())
        torch_opt.step()
        w = ours.step(w, _grad(w))
        torch.testing.assert_close(w, ref.detach(), atol=1e-6, rtol=0)
    assert float((w - w0).abs().max()) > 0.1  # it did move


def test_where_updates_only_the_masked_elements() -> None:
    w = torch.zeros(2, 2, dtype=torch.float64)
    opt = Adam.like(w, lr=0.1)
    mask = torch.tensor([[True, False], [False, False]])
    g = torch.full((2, 2), 2.0, dtype=torch.float64)
    w = opt.step(w, g, where=mask)
    torch.testing.assert_close(w, torch.tensor([[-0.1, 0.0], [0.0, 0.0]], dtype=torch.float64))
    assert opt.t.tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert float(opt.m[0, 1]) == 0.0 and float(opt.v[1, 0]) == 0.0
    # an element's first update moves it by lr whatever the others did (its own step count)
    w = opt.step(w, g, where=~mask)
    torch.testing.assert_close(w, torch.tensor([[-0.1, -0.1], [-0.1, -0.1]], dtype=torch.float64))
    assert opt.t.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_masked_steps_equal_plain_steps_on_the_masked_elements() -> None:
    w0 = torch.randn(1, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    plain, masked = Adam.like(w0, lr=0.05), Adam.like(w0, lr=0.05)
    mask = torch.tensor([[True, True, False, True]])
    a, b = w0.clone(), w0.clone()
    for _ in range(5):
        a = plain.step(a, _grad(a))
        b = masked.step(b, _grad(b), where=mask)
    torch.testing.assert_close(b[mask], a[mask])
    assert torch.equal(b[~mask], w0[~mask])


def test_reset_restarts_one_row_and_select_keeps_rows() -> None:
    w = torch.zeros(3, 2, dtype=torch.float64)
    opt = Adam.like(w, lr=0.1)
    for g in (1.0, -3.0, 2.0):
        w = opt.step(w, torch.full((3, 2), g, dtype=torch.float64))
    other = opt.select(torch.tensor([0, 2]))
    opt.reset(torch.tensor([False, True, False]))
    assert float(opt.t[1].abs().sum() + opt.m[1].abs().sum() + opt.v[1].abs().sum()) == 0.0
    assert bool((opt.t[[0, 2]] == 3).all())
    g = torch.full((3, 2), 5.0, dtype=torch.float64)
    step = opt.step(torch.zeros_like(w), g)
    # the reset row takes a fresh first step (lr); the others continue their moments
    torch.testing.assert_close(step[1], torch.full((2,), -0.1, dtype=torch.float64))
    assert not torch.allclose(step[0], step[1])
    # select made an independent copy of rows 0 and 2
    torch.testing.assert_close(
        other.step(torch.zeros(2, 2, dtype=torch.float64), g[:2]), step[[0, 2]]
    )
