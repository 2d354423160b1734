"""Row selection for per-sample state: how the driver compacts an attack's state.

An attack's state is a dataclass whose :class:`~torch.Tensor` fields hold one row per
attacked sample; :func:`select_rows` keeps some rows of every such field (and of nested
objects that define ``select``), leaving the other fields as they are. This is the one
place where dropping finished samples happens, so attacks never index by hand.

Example:
    >>> import torch
    >>> from dataclasses import dataclass
    >>> from advkit.engine import select_rows
    >>> @dataclass
    ... class S:
    ...     x: torch.Tensor
    ...     steps: int
    >>> select_rows(S(torch.arange(4), 3), torch.tensor([1, 3]))
    S(x=tensor([1, 3]), steps=3)
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from torch import Tensor

__all__ = ["select_rows"]

T = TypeVar("T")


def _select_value(value: Any, keep: Tensor) -> Any:
    if isinstance(value, Tensor):
        return value[keep]
    if hasattr(value, "select") and not isinstance(value, type):
        return value.select(keep)
    return value


def select_rows(state: T, keep: Tensor) -> T:
    """A copy of the dataclass ``state`` keeping rows ``keep`` of every per-sample field.

    Tensors are indexed along their first dimension; nested objects with a ``select``
    method (e.g. :class:`~advkit.engine.adam.Adam`) select themselves; other values (ints,
    floats, None) are shared. A state that is itself a tensor is indexed directly; an
    attack without state uses None.
    """
    if state is None:
        return state
    if isinstance(state, Tensor):
        return state[keep]  # type: ignore[return-value]
    if not dataclasses.is_dataclass(state) or isinstance(state, type):
        raise TypeError(f"attack state must be a dataclass or a tensor, got {type(state)}")
    changes = {
        f.name: _select_value(getattr(state, f.name), keep) for f in dataclasses.fields(state)
    }
    return dataclasses.replace(state, **changes)
