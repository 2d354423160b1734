"""Per-sample records: one frozen type through evaluation, store and JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from advkit.evaluate.records import CLEAN, SampleRecord, carry_breaks
from advkit.store import ResultStore


def test_a_record_starts_robust_only_when_the_clean_prediction_is_right() -> None:
    ok, wrong = SampleRecord.start(0, 3, 3), SampleRecord.start(1, 3, 5)
    assert (ok.robust, ok.broken_by, ok.distance) == (True, None, None)
    assert (wrong.robust, wrong.broken_by, wrong.distance) == (False, CLEAN, 0.0)


def test_records_are_frozen_and_change_by_new_values() -> None:
    rec = SampleRecord.start(4, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.robust = False  # type: ignore[misc]
    broken = rec.spent(7, 3).broken("apgd-ce", 0.02).spent(1, 1)
    assert (broken.robust, broken.broken_by, broken.distance) == (False, "apgd-ce", 0.02)
    assert (broken.queries, broken.gradient_calls) == (8, 4)
    assert rec.robust and rec.queries == 0


def test_a_break_at_a_smaller_eps_carries_to_larger_ones() -> None:
    smaller = [SampleRecord.start(0, 1, 1).broken("pgd", 0.01), SampleRecord.start(1, 1, 1)]
    larger = [SampleRecord.start(0, 1, 1).spent(5, 5), SampleRecord.start(1, 1, 1)]
    carried = carry_breaks(smaller, larger)
    assert (carried[0].broken_by, carried[0].distance, carried[0].queries) == ("pgd", 0.01, 5)
    assert carried[1] == larger[1]


def test_the_json_form_keeps_the_field_order_and_reads_back() -> None:
    rec = SampleRecord.start(2, 0, 0).broken("square", 0.1).spent(40, 0)
    out = rec.to_dict()
    assert list(out) == [
        "index",
        "label",
        "clean_pred",
        "robust",
        "broken_by",
        "distance",
        "queries",
        "gradient_calls",
    ]
    assert SampleRecord.from_dict(json.loads(json.dumps(out))) == rec
    with pytest.raises(ValueError, match="missing"):
        SampleRecord.from_dict({"index": 0})


def test_the_store_gives_back_equal_records(tmp_path: Path) -> None:
    recs = [
        SampleRecord.start(5, 2, 2),
        SampleRecord.start(6, 2, 1),
        SampleRecord.start(7, 0, 0).spent(3, 2).broken("fgsm", 0.25),
    ]
    store = ResultStore(tmp_path / "s.sqlite", {"seed": 0})
    store.save(0.1, recs)
    assert store.load(0.1, [5, 6, 7]) == recs
    assert store.load(0.1, [7, 5]) == [recs[2], recs[0]]
    assert store.load(0.1, [5, 8]) is None
    assert store.load(0.2, [5]) is None
    back = store.load(0.1, [5, 6, 7])
    assert back is not None and all(type(r.robust) is bool for r in back)
    store.close()
