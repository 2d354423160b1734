"""The MIP verifier certifies on proven bounds only: the solver's dual bound, never its
primal value, and big-M constants widened past float32 rounding."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import advkit
from advkit import MIP, Linf

mip_module = importlib.import_module("advkit.certify.mip")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()


def test_the_lower_bound_is_the_dual_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solver answer "optimal, value v, dual bound b < v" certifies only b."""
    real = mip_module.milp
    seen: list[dict[str, Any]] = []

    def gappy(c: Any, **kw: Any) -> Any:
        seen.append(kw["options"])
        res = real(c, **kw)
        return SimpleNamespace(status=0, fun=res.fun, x=res.x, mip_dual_bound=res.fun - 7.0)

    monkeypatch.setattr(mip_module, "milp", gappy)
    net, x = _net(), torch.rand(2, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    y = net(x).argmax(1)
    exact = advkit.certify(net, x, y, Linf(0.05), MIP(exact_margins=True)).class_lower
    monkeypatch.setattr(mip_module, "milp", real)
    truth = advkit.certify(net, x, y, Linf(0.05), MIP(exact_margins=True)).class_lower
    assert all(o["mip_rel_gap"] == 0.0 for o in seen)
    other = torch.ones_like(truth, dtype=torch.bool)
    other[torch.arange(2), y] = False
    assert truth[other].isfinite().all()
    torch.testing.assert_close(exact[other], truth[other] - 7.0)  # the gap is not certified


def test_big_m_bounds_are_widened() -> None:
    lo = torch.tensor([[-1.0, 0.0, 2.0]])
    hi = torch.tensor([[1.0, 0.5, 3.0]])
    (plo, phi) = mip_module._padded_bounds({3: (lo, hi)}, 0)[3]
    assert (plo < lo[0].double().numpy()).all() and (phi > hi[0].double().numpy()).all()
    assert np.allclose(plo, lo[0].numpy(), atol=1e-4) and np.allclose(phi, hi[0].numpy(), atol=1e-4)
