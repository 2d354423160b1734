"""The ordering of Sharma's thesis Table 6 (MNIST, untargeted) on the naturally trained LeNet5.

100 MNIST test images; C&W-L2, EAD (EN rule) and I-FGM-L1/L2/L∞ with a per-sample minimal-ε
search. C&W is the projected variant (Adam on x, clipped to the box), which needs fewer
iterations than the tanh one on MNIST. I-FGM-L1 is the thesis's dense L1 step
(``L1(..., sparsity=0.0)``); advkit's default sparse L1 step is far stronger (see
docs/minimal.md). Iterations and search steps are cut
from the reference 9 × 1000 to keep CI cheap; the claims below hold with margin at these
settings (benchmarks/minimal.md has the full-size numbers):

- C&W, EAD and I-FGM all reach 100% success;
- EAD's mean L1 is below C&W's and below I-FGM-L1's;
- C&W's mean L2 is the lowest of the set;
- I-FGM-L∞ has the lowest mean L∞.
"""

from __future__ import annotations

import math

import pytest
import torch

import advkit
from advkit import BIM, CW, EAD, L1, L2, Linf, MinimalEps
from advkit.data import load_dataset
from advkit.distortion import distortion_report
from advkit.models import load_model
from conftest import require_shared

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_thread")]


def test_table6_ordering_on_natural_lenet5() -> None:
    shared = require_shared()
    x, y = load_dataset("mnist", data_dir=shared / "datasets" / "mnist", limit=100)
    model = load_model("lenet5-natural")
    search = MinimalEps(BIM(steps=10), search_steps=7)
    runs = {
        "cw": (L2(math.inf), CW(search_steps=4, steps=100, initial_const=0.3, tanh=False)),
        "ead": (L1(math.inf), EAD(search_steps=3, steps=100, initial_const=0.3)),
        "ifgm-l1": (L1(math.inf, sparsity=0.0), search),
        "ifgm-l2": (L2(math.inf), search),
        "ifgm-linf": (Linf(math.inf), search),
    }
    rep = {}
    for name, (threat, method) in runs.items():
        res = advkit.attack(model, x, y, threat, method)
        rep[name] = distortion_report(res)
        assert res.success_rate == 1.0, name
        assert bool(torch.isfinite(res.distance).all())
    mean = {k: r.mean for k, r in rep.items()}
    assert mean["ead"]["l1"] < mean["cw"]["l1"]
    assert mean["ead"]["l1"] < mean["ifgm-l1"]["l1"]
    assert all(mean["cw"]["l2"] < mean[k]["l2"] for k in rep if k != "cw"), mean
    assert all(mean["ifgm-linf"]["linf"] < mean[k]["linf"] for k in rep if k != "ifgm-linf")
