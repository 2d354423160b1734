"""What an evaluation records about one sample at one ε: :class:`SampleRecord`.

A record is a frozen value: the evaluation, the SQLite store, the JSON output and the
command line all pass the same type around, and a change of verdict (a later attack or a
masking check breaking the sample) is a new record made with :meth:`SampleRecord.broken`.

Example:
    >>> from advkit.evaluate.records import SampleRecord
    >>> rec = SampleRecord(index=0, label=3, clean_pred=3, robust=True)
    >>> rec.broken("apgd-ce", 0.031).broken_by
    'apgd-ce'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["CLEAN", "ESTIMATES", "SampleRecord", "carry_breaks"]

CLEAN = "clean"
"""``broken_by`` of a sample the model already misclassifies without any perturbation."""

ESTIMATES = ("clever", "margin_radius")
"""The fields of the robustness estimates: absent from the JSON form of a record without
them (and from records written before estimates existed; they default to None)."""


@dataclass(frozen=True)
class SampleRecord:
    """One sample's verdict at one ε.

    Attributes:
        index: the sample's position in the evaluated data (it keys the store and every
            random choice, so a sample gets the same result in any batch).
        label: the true label.
        clean_pred: the model's prediction on the clean input.
        robust: correctly classified and no attack broke it.
        broken_by: ``"clean"`` (misclassified from the start), the name of the first
            attack that broke it (``"check:<name>"`` for a masking check), or None when
            robust.
        distance: the distance of the adversarial example found, in the threat's norm
            (0.0 for ``"clean"``, None when robust).
        queries: model evaluations spent on the sample by the cascade.
        gradient_calls: input-gradient computations spent on the sample by the cascade.
        clever: the sample's CLEVER score (an estimate, never a certificate), when the
            evaluation asked for estimates (:mod:`advkit.evaluate.estimates`).
        margin_radius: its certified margin radius, when estimates were asked and the
            model is a chain of affine layers and ReLUs.
    """

    index: int
    label: int
    clean_pred: int
    robust: bool
    broken_by: str | None = None
    distance: float | None = None
    queries: int = 0
    gradient_calls: int = 0
    clever: float | None = None
    margin_radius: float | None = None

    @classmethod
    def start(cls, index: int, label: int, clean_pred: int) -> SampleRecord:
        """The record before any attack: robust when the clean prediction is right."""
        if clean_pred == label:
            return cls(index, label, clean_pred, robust=True)
        return cls(index, label, clean_pred, robust=False, broken_by=CLEAN, distance=0.0)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SampleRecord:
        """The record of a :meth:`to_dict` mapping (JSON or a store row)."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in values and n not in ESTIMATES]
        if missing:
            raise ValueError(f"a sample record needs the fields {names}; missing {missing}")
        return cls(**{n: values[n] for n in names if n in values})

    def broken(self, by: str, distance: float) -> SampleRecord:
        """This record with the sample broken by ``by`` at ``distance`` (counts kept)."""
        return replace(self, robust=False, broken_by=by, distance=distance)

    def carry(self, smaller: SampleRecord) -> SampleRecord:
        """This record, broken as at a smaller ε when the sample was broken there.

        An adversarial example in the smaller ball lies in the larger one, so the verdict
        carries over and the accuracy-vs-ε curve stays monotone.
        """
        if not self.robust or smaller.robust:
            return self
        return replace(self, robust=False, broken_by=smaller.broken_by, distance=smaller.distance)

    def spent(self, queries: int, gradient_calls: int) -> SampleRecord:
        """This record with more model queries and gradient calls counted."""
        return replace(
            self,
            queries=self.queries + queries,
            gradient_calls=self.gradient_calls + gradient_calls,
        )

    def estimated(self, clever: float, margin_radius: float | None) -> SampleRecord:
        """This record with the sample's robustness estimates."""
        return replace(self, clever=clever, margin_radius=margin_radius)

    @property
    def clever_overestimated(self) -> bool:
        """An attack broke the sample at a distance below its CLEVER score (the estimate
        missed the largest gradients: the failure of CLEVER on gradient-masked models)."""
        return (
            self.clever is not None
            and self.distance is not None
            and self.broken_by != CLEAN
            and self.distance < self.clever
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, in declaration order; the estimates only when the
        record has them, then with whether an attack found a distance below CLEVER's."""
        out = asdict(self)
        if self.clever is None:
            return {k: v for k, v in out.items() if k not in ESTIMATES}
        out["clever_overestimated"] = self.clever_overestimated
        return out


def carry_breaks(smaller: list[SampleRecord], records: list[SampleRecord]) -> list[SampleRecord]:
    """``records`` with every sample broken at a smaller ε also broken here (same example).

    Records computed in one run already carry it; records read back from a store written
    with another list of ε may not.
    """
    return [r.carry(p) for p, r in zip(smaller, records, strict=True)]
