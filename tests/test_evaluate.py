"""Evaluation: per-sample worst case over a suite, monotone accuracy-vs-ε curve, resumable
SQLite store, JSON output."""

from __future__ import annotations

import importlib
import itertools
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import APGD, APGDT, PGD, Evaluation, Linf
from advkit.attacks.adaptive import EOT
from advkit.attacks.catalog import ATTACKS
from advkit.evaluate.suites import RULES, SUITES, get_suite
from advkit.objectives import is_successful
from advkit.store import StoreMismatch

pytestmark = pytest.mark.usefixtures("single_thread")

run_module = importlib.import_module("advkit.evaluate.run")
ATTACK_BATCH = run_module._attack_batch

N = 12
EPS = 0.05
CURVE = [0.0, 0.02, 0.1]
SUITE: list[tuple[str, Any]] = [
    ("apgd-ce", APGD(steps=8)),
    ("apgd-t", APGDT(steps=6, target_classes=3)),
]


@pytest.fixture
def data(tiny_cnn: nn.Module) -> tuple[Tensor, Tensor]:
    """Labels = the model's predictions except for two samples (clean errors)."""
    x = torch.rand(N, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = tiny_cnn(x).argmax(dim=1)
    y[[3, 8]] = (y[[3, 8]] + 1) % 10
    return x, y


def evaluate(model: nn.Module, data: tuple[Tensor, Tensor], **kw: Any) -> Evaluation:
    kw.setdefault("eps_curve", CURVE)
    kw.setdefault("batch_size", 4)
    kw.setdefault("suite", SUITE)
    return advkit.evaluate(model, data, Linf(EPS), progress=False, **kw)


def records(ev: Evaluation) -> str:
    """Every per-sample record, as the JSON a user would get (types included)."""
    return json.dumps(ev.to_dict()["samples"], sort_keys=True)


# ----- what the numbers mean ---------------------------------------------------------------


def test_accuracies_curve_and_records_are_consistent(
    tiny_cnn: nn.Module, data: tuple[Tensor, Tensor]
) -> None:
    ev = evaluate(tiny_cnn, data)
    x, y = data
    with torch.no_grad():
        clean_ok = tiny_cnn(x).argmax(dim=1) == y
    assert ev.n == N and ev.eps == EPS and ev.suite == ["apgd-ce", "apgd-t"]
    assert ev.clean_accuracy == pytest.approx(float(clean_ok.float().mean()))
    assert ev.robust_accuracy <= ev.clean_accuracy

    eps_values = [e for e, _ in ev.curve]
    assert eps_values == sorted({EPS, *CURVE})
    accs = [a for _, a in ev.curve]
    assert all(a >= b for a, b in itertools.pairwise(accs))
    assert dict(ev.curve)[0.0] == pytest.approx(ev.clean_accuracy)  # nothing moves at ε = 0
    assert dict(ev.curve)[EPS] == ev.robust_accuracy

    allowed = {*ev.suite, "clean"}
    for e in eps_values:
        recs = ev.samples[e]
        assert [r.index for r in recs] == list(range(N))
        assert sum(r.robust for r in recs) / N == pytest.approx(dict(ev.curve)[e])
        for r, ok in zip(recs, clean_ok.tolist(), strict=True):
            assert r.label == int(y[r.index])
            if not ok:
                assert (r.broken_by, r.robust, r.distance) == ("clean", False, 0.0)
            elif r.robust:
                assert r.broken_by is None and r.distance is None
            else:
                assert r.broken_by in allowed - {"clean"}
                assert r.distance is not None and 0.0 <= r.distance <= e + 1e-6
        counts = ev.broken_by(e)
        assert set(counts) <= allowed
        assert sum(counts.values()) + sum(r.robust for r in recs) == N
    # a sample robust at a larger ε is robust at every smaller ε
    for small, large in itertools.pairwise(eps_values):
        for a, b in zip(ev.samples[small], ev.samples[large], strict=True):
            assert a.robust or not b.robust
    # the data make all of this non-trivial
    assert 0 < ev.robust_accuracy < ev.clean_accuracy
    assert ev.gradient_calls() > 0


def test_robust_means_no_attack_of_the_suite_breaks_it(
    tiny_cnn: nn.Module, data: tuple[Tensor, Tensor]
) -> None:
    """The cascade is the per-sample worst case: a sample is robust iff it is correct and
    every attack of the suite, run alone on the whole batch, fails on it."""
    x, y = data
    ev = evaluate(tiny_cnn, data, eps_curve=[], batch_size=N)
    with torch.no_grad():
        robust = tiny_cnn(x).argmax(dim=1) == y
    for _, method in SUITE:
        res = advkit.attack(tiny_cnn, x, y, Linf(EPS), method, seed=0)
        robust &= ~is_successful(res.logits, y)
    assert [r.robust for r in ev.samples[EPS]] == robust.tolist()


@pytest.mark.usefixtures("cheap_standard")
def test_standard_suite_is_at_least_as_strong_as_fast(
    tiny_cnn: nn.Module, data: tuple[Tensor, Tensor]
) -> None:
    fast = evaluate(tiny_cnn, data, suite="fast", eps_curve=[])
    standard = evaluate(tiny_cnn, data, suite="standard", eps_curve=[])
    assert standard.suite == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert fast.suite == ["apgd-ce"]
    assert standard.robust_accuracy <= fast.robust_accuracy
    for s, f in zip(standard.samples[EPS], fast.samples[EPS], strict=True):
        assert f.robust or not s.robust
        if f.broken_by is not None:  # the shared first attack breaks the same samples
            assert s.broken_by == f.broken_by


def test_get_suite() -> None:
    assert [name for name, _ in get_suite("standard")] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert [name for name, _ in get_suite("standard", "l1")] == [
        "apgd-ce",
        "apgd-t",
        "fab-t",
        "square",
    ]
    with pytest.raises(ValueError, match="unknown suite"):
        get_suite("strongest")
    with pytest.raises(ValueError, match="unique"):
        get_suite([("a", PGD()), ("a", APGD())])
    with pytest.raises(ValueError, match="at least one attack"):
        get_suite([])


def test_named_suites_are_cascades_of_catalog_attacks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, cascade in SUITES.items():
        built = get_suite(name)
        assert [n for n, _ in built] == [n for n, _ in cascade]
        for (attack, options), (_, method) in zip(cascade, built, strict=True):
            expected = ATTACKS[attack].make(**options)
            eot = RULES[name].eot if name in RULES else None
            if eot is not None:
                expected = EOT(expected, eot)
            assert method == expected
    assert get_suite("standard")[1][1] == APGDT(steps=100, target_classes=9)
    monkeypatch.setitem(SUITES, "typo", (("apgd", {}),))
    with pytest.raises(ValueError, match="unknown attack 'apgd'"):
        get_suite("typo")


# ----- the store: resumable, tied to its configuration --------------------------------------


class CountingAttackBatch:
    """Wraps ``_attack_batch``: records each call's sample indices, optionally fails."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail_after = fail_after

    def __call__(self, *args: Any, **kw: Any) -> Any:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("interrupted")
        self.calls.append(args[3].tolist())
        return ATTACK_BATCH(*args, **kw)


def test_an_interrupted_run_resumes_to_identical_records(
    tiny_cnn: nn.Module,
    data: tuple[Tensor, Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference = evaluate(tiny_cnn, data)
    batches, n_eps = N // 4, len({EPS, *CURVE})

    # the run dies in the middle of the second batch (after 6 of 12 (batch, ε) units)
    dying = CountingAttackBatch(fail_after=n_eps + 2)
    monkeypatch.setattr(run_module, "_attack_batch", dying)
    with pytest.raises(RuntimeError, match="interrupted"):
        evaluate(tiny_cnn, data, store=tmp_path / "r.sqlite")
    assert dying.calls == [[0, 1, 2, 3]] * n_eps + [[4, 5, 6, 7]] * 2

    resumed_counter = CountingAttackBatch()
    monkeypatch.setattr(run_module, "_attack_batch", resumed_counter)
    resumed = evaluate(tiny_cnn, data, store=tmp_path / "r.sqlite")
    # only the unfinished units run again
    assert resumed_counter.calls == [[4, 5, 6, 7]] * (n_eps - 2) + [[8, 9, 10, 11]] * n_eps
    assert len(dying.calls) + len(resumed_counter.calls) == batches * n_eps
    assert records(resumed) == records(reference)
    assert resumed.curve == reference.curve

    # a finished store is read back without attacking anything
    done = CountingAttackBatch()
    monkeypatch.setattr(run_module, "_attack_batch", done)
    again = evaluate(tiny_cnn, data, store=tmp_path / "r.sqlite")
    assert done.calls == []
    assert records(again) == records(reference)


def test_lost_rows_are_recomputed_and_nothing_else(
    tiny_cnn: nn.Module,
    data: tuple[Tensor, Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "r.sqlite"
    first = evaluate(tiny_cnn, data, store=path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM samples WHERE idx >= 8 AND eps = ?", (max(CURVE),))
        db.execute("DELETE FROM samples WHERE idx = 5 AND eps = ?", (EPS,))
    db.close()
    counter = CountingAttackBatch()
    monkeypatch.setattr(run_module, "_attack_batch", counter)
    second = evaluate(tiny_cnn, data, store=path)
    assert sorted(counter.calls) == [[4, 5, 6, 7], [8, 9, 10, 11]]
    assert records(second) == records(first)


def test_the_store_does_not_change_results(
    tiny_cnn: nn.Module, data: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    plain = evaluate(tiny_cnn, data)
    stored = evaluate(tiny_cnn, data, store=tmp_path / "r.sqlite")
    assert records(stored) == records(plain)


@pytest.mark.parametrize(
    "change",
    ["seed", "suite", "model", "data", "batch_size", "threat", "rng"],
)
def test_a_store_refuses_another_configuration(
    tiny_cnn: nn.Module,
    data: tuple[Tensor, Tensor],
    tmp_path: Path,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "r.sqlite"
    evaluate(tiny_cnn, data, store=path, eps_curve=[], suite=SUITE[:1])
    kw: dict[str, Any] = {"store": path, "eps_curve": [], "suite": SUITE[:1]}
    model = tiny_cnn
    x, y = data
    if change == "seed":
        kw["seed"] = 1
    elif change == "suite":
        kw["suite"] = [("apgd-ce", APGD(steps=9))]
    elif change == "model":
        with torch.no_grad():
            model.fc.bias[0] += 1e-3
    elif change == "data":
        x = x.clone()
        x[0, 0, 0, 0] = 0.5
    elif change == "batch_size":
        kw["batch_size"] = 6
    elif change == "rng":  # a store written under another seeding scheme
        monkeypatch.setattr(sys.modules["advkit.evaluate.resume"], "RNG_SCHEME", "ints-0")
    if change == "threat":
        with pytest.raises(StoreMismatch, match="different evaluation"):
            advkit.evaluate(model, (x, y), advkit.L2(EPS), progress=False, batch_size=4, **kw)
        return
    with pytest.raises(StoreMismatch, match="different evaluation"):
        evaluate(model, (x, y), **kw)


# ----- output ------------------------------------------------------------------------------


def test_to_dict_is_json_serializable(tiny_cnn: nn.Module, data: tuple[Tensor, Tensor]) -> None:
    ev = evaluate(tiny_cnn, data, info={"model": "tiny", "seed": 0})
    out = json.loads(json.dumps(ev.to_dict()))
    assert out["robust_accuracy"] == ev.robust_accuracy
    assert out["clean_accuracy"] == ev.clean_accuracy
    assert out["curve"] == [{"eps": e, "robust_accuracy": a} for e, a in ev.curve]
    assert out["broken_by"] == ev.broken_by()
    assert out["gradient_calls"] == ev.gradient_calls()
    assert out["info"] == {"model": "tiny", "seed": 0}
    assert set(out["samples"]) == {str(e) for e, _ in ev.curve}
    assert out["samples"][str(EPS)] == [r.to_dict() for r in ev.samples[EPS]]
    short = json.loads(json.dumps(ev.to_dict(with_samples=False)))
    assert "samples" not in short
    assert f"{100 * ev.robust_accuracy:6.2f}%" in ev.table()


def test_evaluate_leaves_the_model_and_rng_alone(
    tiny_cnn: nn.Module, data: tuple[Tensor, Tensor]
) -> None:
    tiny_cnn.conv.train()
    flags = [m.training for m in tiny_cnn.modules()]
    x, y = data
    x_in, y_in = x.clone(), y.clone()
    rng = torch.get_rng_state()
    evaluate(tiny_cnn, data, eps_curve=[])
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in tiny_cnn.modules()] == flags
    assert torch.equal(x, x_in) and torch.equal(y, y_in)
