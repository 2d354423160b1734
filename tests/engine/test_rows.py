"""advkit.engine.select_rows: compacting per-sample state, nested objects included."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from advkit.engine import Adam, select_rows


@dataclass
class Inner:
    """A nested per-sample object that knows how to select its rows."""

    rows: Tensor

    def select(self, keep: Tensor) -> Inner:
        return Inner(self.rows[keep])


@dataclass
class State:
    x: Tensor
    opt: Adam
    inner: Inner
    steps: int
    lr: float
    extra: Tensor | None = None


def _state() -> State:
    x = torch.arange(12.0).reshape(4, 3)
    opt = Adam.like(x, lr=0.1)
    opt.step(x, torch.ones(4, 3))
    opt.m[1] = 7.0  # mark row 1 of every buffer
    opt.t[1] = 5.0
    return State(x, opt, Inner(torch.tensor([10, 11, 12, 13])), steps=3, lr=0.5)


def test_every_per_sample_field_is_compacted_and_the_rest_shared() -> None:
    state = _state()
    keep = torch.tensor([1, 3])
    out = select_rows(state, keep)
    assert torch.equal(out.x, state.x[keep])
    assert torch.equal(out.inner.rows, torch.tensor([11, 13]))
    assert torch.equal(out.opt.m, state.opt.m[keep]) and torch.equal(out.opt.v, state.opt.v[keep])
    assert out.opt.t[:, 0].tolist() == [5.0, 1.0]
    assert out.opt.lr == 0.1 and out.opt.beta2 == state.opt.beta2
    assert out.steps == 3 and out.lr == 0.5 and out.extra is None
    # the original is untouched
    assert state.x.shape == (4, 3) and state.opt.m.shape == (4, 3)


def test_compacted_adam_continues_the_selected_rows() -> None:
    state = _state()
    keep = torch.tensor([0, 2])
    grad = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    part = select_rows(state, keep)
    full = state.opt.step(state.x, grad)
    torch.testing.assert_close(part.opt.step(part.x, grad[keep]), full[keep])


def test_a_tensor_state_is_indexed_and_other_states_are_refused() -> None:
    assert select_rows(torch.arange(5), torch.tensor([4, 0])).tolist() == [4, 0]
    with pytest.raises(TypeError, match="dataclass or a tensor"):
        select_rows({"x": torch.arange(3)}, torch.tensor([0]))
    with pytest.raises(TypeError, match="dataclass or a tensor"):
        select_rows(State, torch.tensor([0]))
