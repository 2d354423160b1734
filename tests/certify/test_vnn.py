"""The verification driver on ONNX networks the tests export: its answers agree with
exact MIP, counterexamples hold under onnxruntime, and the stage list is a hook."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import advkit
from advkit.certify.alpha_crown import AlphaCROWN
from advkit.certify.bab import BaB
from advkit.certify.vnn import Verifier, verify_files
from advkit.certify.vnn_attack import MarginPGD
from advkit.certify.vnn_export import export_onnx as export
from advkit.certify.vnn_export import robustness_vnnlib as robustness
from advkit.certify.vnn_network import load_network
from advkit.certify.vnn_stages import (
    AttackStage,
    BabStage,
    BoundStage,
    MipStage,
    StageResult,
    Subproblem,
)
from advkit.certify.vnnlib import parse_vnnlib
from vnn_cases import SmallCNN, counterexample, mlp, near_boundary, onnx_outputs, trained

FAST = Verifier(
    (AttackStage(MarginPGD(steps=10, restarts=2)), BoundStage(AlphaCROWN(steps=5)), MipStage())
)
MIP_ONLY = Verifier((MipStage(),))
BAB_ONLY = Verifier((BabStage(BaB(time_limit=20)),))


def _two_inputs(tmp_path: Path) -> Path:
    """y0 = relu(x0 + x1) in [0, 2] and y1 = relu(x0 − x1) on [0, 1]²."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
        net[1].bias.zero_()
    return export(net, tmp_path / "hand.onnx", (2,))


BOX2 = "".join(f"(declare-const {v} Real)\n" for v in ("X_0", "X_1", "Y_0", "Y_1")) + (
    "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"
)


def test_a_violated_property_is_sat_with_a_counterexample_onnxruntime_confirms(
    tmp_path: Path,
) -> None:
    onnx = _two_inputs(tmp_path)
    prop = tmp_path / "violated.vnnlib"
    prop.write_text(BOX2 + "(assert (>= Y_0 1.9))\n(assert (<= Y_1 0.05))\n")
    res = verify_files(onnx, prop, timeout=20, verifier=FAST)
    assert res.status == "sat" and res.stage == "attack"
    x, y = counterexample(res.to_text())
    assert np.all((x >= 0) & (x <= 1))
    reference = onnx_outputs(onnx, x, (2,))
    np.testing.assert_allclose(y, reference, rtol=1e-6, atol=1e-6)
    assert reference[0] >= 1.9 and reference[1] <= 0.05


def test_a_safe_property_is_unsat(tmp_path: Path) -> None:
    prop = tmp_path / "safe.vnnlib"
    prop.write_text(BOX2 + "(assert (or (and (>= Y_0 2.01)) (and (<= Y_0 -0.01))))\n")
    res = verify_files(_two_inputs(tmp_path), prop, timeout=20, verifier=FAST)
    assert (res.status, res.to_text()) == ("unsat", "unsat")


@pytest.mark.parametrize(
    ("build", "shape", "eps", "points"),
    [(mlp, (1, 2, 2), (0.02, 0.05), 4), (lambda: SmallCNN(maxpool=False), (1, 4, 4), (0.01,), 2)],
    ids=["mlp", "cnn"],
)
def test_answers_agree_with_exact_mip_on_every_instance(
    tmp_path: Path,
    build: type[nn.Module],
    shape: tuple[int, ...],
    eps: tuple[float, ...],
    points: int,
) -> None:
    torch.manual_seed(0)  # the initial weights
    network = load_network(export(trained(build(), shape, seed=1), tmp_path / "n.onnx", shape))
    x = near_boundary(network.model, shape, points, seed=0)
    labels = network.model(x).argmax(1)
    seen = set()
    for e in eps:
        exact = advkit.certify(network.model, x, labels, advkit.Linf(e), advkit.MIP()).status()
        for i in range(x.shape[0]):
            prop = parse_vnnlib(robustness(x[i].numpy(), e, int(labels[i]), 3))
            expected = {"certified": "unsat", "attacked": "sat"}[exact[i]]
            for verifier in (FAST, MIP_ONLY, BAB_ONLY):
                res = verifier.verify(network, prop, timeout=20)
                assert res.status == expected, (e, i, verifier, res)
            seen.add(expected)
    assert seen == {"sat", "unsat"}


def test_branch_and_bound_alone_decides_conjunctions_and_disjunctions(tmp_path: Path) -> None:
    """A disjunct of several rows (violated only where all hold) and a disjunction."""
    network = load_network(_two_inputs(tmp_path))
    violated = parse_vnnlib(BOX2 + "(assert (>= Y_0 1.9))\n(assert (<= Y_1 0.05))\n")
    res = BAB_ONLY.verify(network, violated, timeout=20)
    assert (res.status, res.stage) == ("sat", "bab")
    x, y = counterexample(res.to_text())
    assert y[0] >= 1.9 and y[1] <= 0.05 and np.all((x >= 0) & (x <= 1))
    # y0 = x0 + x1 ≥ 1.9 forces x0, x1 ≥ 0.9, so y1 = relu(x0 − x1) ≤ 0.1: no point with y1 ≥ 0.2
    safe = parse_vnnlib(BOX2 + "(assert (>= Y_0 1.9))\n(assert (>= Y_1 0.2))\n")
    assert BAB_ONLY.verify(network, safe, timeout=20).status == "unsat"
    either = parse_vnnlib(BOX2 + "(assert (or (and (>= Y_0 2.01)) (and (<= Y_0 -0.01))))\n")
    assert BAB_ONLY.verify(network, either, timeout=20).status == "unsat"


def test_every_stage_runs_in_order_and_an_unchecked_sat_is_not_trusted(tmp_path: Path) -> None:
    network = load_network(_two_inputs(tmp_path))
    prop = parse_vnnlib(BOX2 + "(assert (>= Y_0 2.5))\n")
    calls = []

    def liar(sub: Subproblem) -> StageResult:
        calls.append("liar")
        return StageResult("sat", np.array([1.0, 1.0]))  # y0 = 2 < 2.5: not a counterexample

    class Recorder:
        name = "recorder"

        def __call__(self, sub: Subproblem) -> StageResult:
            calls.append(f"recorder {sub.hint.tolist()}")
            return StageResult("unknown")

    liar.name = "liar"  # type: ignore[attr-defined]
    res = Verifier((liar, Recorder())).verify(network, prop, timeout=20)  # type: ignore[arg-type]
    assert res.status == "unknown"
    assert calls == ["liar", "recorder [1.0, 1.0]"]


def test_the_timeout_is_reported_not_a_guess(tmp_path: Path) -> None:
    network = load_network(_two_inputs(tmp_path))
    prop = parse_vnnlib(BOX2 + "(assert (>= Y_0 2.5))\n")

    class Slow:
        name = "slow"

        def __call__(self, sub: Subproblem) -> StageResult:
            time.sleep(max(0.0, sub.seconds_left()) + 0.01)
            return StageResult("unknown")

    res = Verifier((Slow(), MipStage())).verify(network, prop, timeout=0.2)
    assert res.status == "timeout" and res.x is None


def test_onnxruntime_must_confirm_a_counterexample(tmp_path: Path) -> None:
    network = load_network(_two_inputs(tmp_path))
    assert network.reference is not None
    (part,) = parse_vnnlib(BOX2 + "(assert (>= Y_0 1.5))\n").disjuncts
    x, y = network.check(part, np.array([1.0, 1.0]))  # type: ignore[misc]
    np.testing.assert_array_equal(y, network.reference(x))
    disagrees = replace(network, reference=lambda x: np.zeros(2, np.float32))
    assert disagrees.check(part, np.array([1.0, 1.0])) is None
    assert network.check(part, np.array([0.5, 0.5])) is None  # y0 = 1 < 1.5
