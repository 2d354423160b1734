"""The outcome of re-verifying an evaluation's evidence: :class:`Verification`.

Example:
    >>> from advkit.evaluate.verification import CurvePoint, Disagreement, Verification
    >>> bad = Disagreement(7, 0.1, "no adversarial example was kept for it")
    >>> check = Verification(40, 12, 0.9, 0.9, (CurvePoint(0.1, 0.6, 0.625),), (bad,), 0.0)
    >>> check.ok, check.samples
    (False, (7,))
    >>> for part in check.failure().split(": ", 1)[1].split("; "):
    ...     print(part)
    sample 7 at ε=0.1: no adversarial example was kept for it
    robust accuracy at ε=0.1: reported 60.00%, recomputed 62.50%
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CurvePoint", "Disagreement", "Verification"]

_SHOWN = 5  # samples named in the one-line failure message


@dataclass(frozen=True)
class CurvePoint:
    """Robust accuracy at one ε, as reported and as recomputed from the evidence."""

    eps: float
    reported: float
    recomputed: float

    @property
    def agrees(self) -> bool:
        """Whether the two are equal (both are counts divided by the same n)."""
        return math.isclose(self.reported, self.recomputed, rel_tol=0.0, abs_tol=1e-12)


@dataclass(frozen=True)
class Disagreement:
    """One sample whose verdict at ε the evidence does not support.

    Attributes:
        index: the sample's position in the evaluated data.
        eps: the ε at which the results and the evidence differ.
        reason: what the re-check found, in words.
    """

    index: int
    eps: float
    reason: str

    def describe(self) -> str:
        """``"sample <index> at ε=<eps>: <reason>"``."""
        return f"sample {self.index} at ε={self.eps:g}: {self.reason}"


@dataclass(frozen=True)
class Verification:
    """The independent re-check of an evaluation's adversarial examples.

    Attributes:
        n: samples evaluated.
        examples: kept examples re-checked.
        clean_accuracy: recomputed with one forward pass on the clean data.
        reported_clean_accuracy: as the results say.
        curve: robust accuracy at every ε of the results, reported and recomputed.
        disagreements: every (sample, ε) whose verdict the evidence does not support.
        logit_gap: the largest difference between a kept logit and the one recomputed
            at its example (float rounding; informational).
        checks: what was checked before the examples (schema version, file sha256,
            model and data fingerprint), one line each.
    """

    n: int
    examples: int
    clean_accuracy: float
    reported_clean_accuracy: float
    curve: tuple[CurvePoint, ...]
    disagreements: tuple[Disagreement, ...]
    logit_gap: float
    checks: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every example checks out and every number agrees."""
        clean = math.isclose(self.clean_accuracy, self.reported_clean_accuracy, abs_tol=1e-12)
        return clean and not self.disagreements and all(p.agrees for p in self.curve)

    @property
    def samples(self) -> tuple[int, ...]:
        """The indices of the samples that disagree, sorted."""
        return tuple(sorted({d.index for d in self.disagreements}))

    def failure(self) -> str:
        """One line naming the samples that disagree (the first few with the reason)
        and the numbers that differ; empty when :attr:`ok`."""
        if self.ok:
            return ""
        first: dict[int, Disagreement] = {}
        for d in self.disagreements:
            first.setdefault(d.index, d)
        parts = [d.describe() for d in list(first.values())[:_SHOWN]]
        if len(first) > _SHOWN:
            parts.append(f"... (samples {', '.join(map(str, self.samples))})")
        parts += [
            f"robust accuracy at ε={p.eps:g}: reported {100 * p.reported:.2f}%, recomputed "
            f"{100 * p.recomputed:.2f}%"
            for p in self.curve
            if not p.agrees
        ]
        count = f"{len(first)} sample{'s' if len(first) != 1 else ''}"
        return f"the evidence disagrees with the results for {count}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, and ``ok``."""
        return {"ok": self.ok, **asdict(self)}

    def table(self) -> str:
        """A short table: the checks, reported and recomputed accuracies, the verdict."""
        lines = [f"re-checked {self.examples} adversarial examples of {self.n} samples"]
        lines += [f"  {line}" for line in self.checks]
        lines.append("        eps   reported   recomputed")
        clean = (self.reported_clean_accuracy, self.clean_accuracy)
        lines.append(f"{'clean':>11}   {100 * clean[0]:7.2f}%   {100 * clean[1]:9.2f}%")
        for p in self.curve:
            mark = "" if p.agrees else "   <- differs"
            lines.append(
                f"{p.eps:11.4g}   {100 * p.reported:7.2f}%   {100 * p.recomputed:9.2f}%{mark}"
            )
        lines.append(f"largest logit difference from the kept logits: {self.logit_gap:.3g}")
        if self.ok:
            lines.append(
                "all agree: every kept example is in its ε-ball and the box and misclassified"
            )
        else:
            lines += ["DISAGREE:", *(f"  {d.describe()}" for d in self.disagreements)]
        return "\n".join(lines)
