"""``advkit.evaluate(..., estimates=True)``: CLEVER and the margin radius in every record,
the flag of samples an attack broke below their CLEVER score, and their resumption."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import Tensor, nn

import advkit
from advkit import L2
from advkit.data import load_dataset
from advkit.evaluate import estimates as estimates_module
from advkit.evaluate.estimates import ESTIMATE_NOTE, estimates_summary
from advkit.evaluate.records import SampleRecord
from advkit.store import StoreMismatch
from linear_digits import linear_digits

THREAT = L2(1.0)


def _data(n: int = 8) -> tuple[Tensor, Tensor]:
    x, y = load_dataset("digits", split="test", limit=n)
    return x, y


def _evaluate(
    model: nn.Module, store: Path | None = None, estimates: bool = True, **kw
) -> advkit.Evaluation:
    return advkit.evaluate(
        model,
        _data(),
        THREAT,
        "fast",
        batch_size=4,
        progress=False,
        checks=False,
        store=store,
        estimates=estimates,
        **kw,
    )


def _exact(model: nn.Module, x: Tensor, y: int) -> float:
    """min_j (f_y − f_j)(x) / ‖w_y − w_j‖₂: the least L2 perturbation, the box ignored."""
    w, f = model[1].weight.detach().double(), model(x[None])[0].detach().double()
    return min(float((f[y] - f[j]) / (w[y] - w[j]).norm()) for j in range(10) if j != y)


def test_records_hold_clever_equal_to_the_exact_distance_on_a_linear_model() -> None:
    model = linear_digits()
    x, _ = _data()
    ev = _evaluate(model)
    for rec in ev.samples[1.0]:
        if rec.clean_pred != rec.label:
            continue
        exact = _exact(model, x[rec.index], rec.label)
        assert rec.clever == pytest.approx(min(exact, 1.0), rel=1e-4)
        assert rec.margin_radius == pytest.approx(exact, rel=1e-4)  # exact for affine nets
    out = ev.to_dict()
    assert out["estimates"]["note"] == ESTIMATE_NOTE and "never a certificate" in ESTIMATE_NOTE
    assert "clever_overestimated" in out["samples"]["1.0"][0]
    assert "never a certificate" in ev.table()


def test_a_sample_broken_below_its_clever_score_is_flagged() -> None:
    rec = SampleRecord(7, 3, 3, robust=True).estimated(0.5, None).broken("pgd", 0.2)
    fine = SampleRecord(8, 3, 3, robust=True).estimated(0.1, None).broken("pgd", 0.2)
    assert rec.clever_overestimated and not fine.clever_overestimated
    summary = estimates_summary({0.5: [rec, fine]})
    assert summary is not None and summary["clever_overestimated"] == [7]
    ev = advkit.Evaluation("L2", 0.5, ["pgd"], 2, 1.0, 0.0, [(0.5, 0.0)], {0.5: [rec, fine]}, 1.0)
    assert ev.to_dict()["estimates"]["clever_overestimated"] == [7]
    assert "smaller distance than CLEVER" in ev.table() and "7" in ev.table()


def test_a_killed_run_resumes_with_its_estimates(tmp_path: Path, monkeypatch) -> None:
    model = linear_digits()
    whole = _evaluate(model)
    real, calls = estimates_module.Clever.estimate, []

    def dies_on_the_second_batch(self, *args, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kw)

    monkeypatch.setattr(estimates_module.Clever, "estimate", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        _evaluate(model, tmp_path / "run.sqlite")
    monkeypatch.setattr(estimates_module.Clever, "estimate", real)
    resumed = _evaluate(model, tmp_path / "run.sqlite")
    assert resumed.samples == whole.samples
    assert all(r.clever is not None for r in resumed.samples[1.0])


def test_the_store_knows_whether_estimates_were_asked(tmp_path: Path) -> None:
    model = linear_digits()
    _evaluate(model, tmp_path / "run.sqlite")
    with pytest.raises(StoreMismatch):
        _evaluate(model, tmp_path / "run.sqlite", estimates=False)
