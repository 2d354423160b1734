"""Eval mode for the duration of an attack, every module's ``.training`` flag restored."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(model: nn.Module, *, warn: bool = True) -> Iterator[None]:
    """Put ``model`` in eval mode; restore each module's ``.training`` flag afterwards.

    ``warn`` (default True) warns when the model arrives in training mode; training loops
    that switch to eval mode on purpose to craft examples turn it off.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Dropout(0.5)).eval()
        >>> with eval_mode(model):
        ...     model.training
        False
    """
    flags = [(m, m.training) for m in model.modules()]
    if warn and model.training:
        warnings.warn(
            "the model is in training mode; advkit evaluates it in eval mode (dropout off, "
            "batch-norm running statistics) and restores the mode afterwards. Call "
            "model.eval() before attacking to silence this warning.",
            UserWarning,
            stacklevel=4,
        )
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag
