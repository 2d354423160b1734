"""What the gradient-masking checks add to an evaluation: the samples they broke and
the examples that broke them.

A masking check that finds an adversarial example (FGSM, random noise of the ball) has
shown the sample is not robust: :func:`count_check_breaks` counts it broken at the main
ε and every larger one, and :func:`check_examples` keeps its example unless an attack
broke the sample at an ε up to the main one. With a store, :func:`stored_examples` gives
the evaluation's examples as a :class:`~advkit.evaluate.stored_examples.StoredExamples`
mapping (the attacks' read from the store on lookup, the checks' held in memory).
"""

from __future__ import annotations

import math
from pathlib import Path

from advkit.evaluate.examples import AdversarialExample
from advkit.evaluate.records import CLEAN, SampleRecord
from advkit.evaluate.sanity import MaskingFlag
from advkit.evaluate.stored_examples import StoredExamples

__all__ = ["check_examples", "count_check_breaks", "stored_examples"]

Records = dict[float, list[SampleRecord]]
"""Per ε, one record per sample in index order."""

Examples = dict[int, AdversarialExample]
"""Per broken sample (by index), the example that broke it at the smallest ε."""


def count_check_breaks(flags: list[MaskingFlag], samples: Records, main: float) -> Records:
    """Samples a masking check broke (FGSM, random noise) count as broken at ε ≥ main.

    The check's example is a valid adversarial example in the main ball, hence in every
    larger one; leaving such samples robust would report a defense as stronger than the
    attacks showed it to be. The first flag naming a sample sets its record.
    """
    found: dict[int, tuple[str, float]] = {}
    for flag in flags:
        for i, d in zip(flag.samples, flag.distances, strict=True):
            found.setdefault(i, (f"check:{flag.check}", d))
    return {
        e: [
            r.broken(*found[r.index]) if e >= main and r.robust and r.index in found else r
            for r in recs
        ]
        for e, recs in samples.items()
    }


def stored_examples(
    store: str | Path, records: Records, flags: list[MaskingFlag], main: float
) -> StoredExamples:
    """The examples of an evaluation with a store: the attacks' read from the store on
    lookup (for each broken sample, the one at the smallest ε that broke it), the masking
    checks' from ``flags`` where no attack broke the sample at an ε up to ``main``."""
    found_at: dict[int, float] = {}
    for e in sorted(records):
        for r in records[e]:
            if not r.robust and r.broken_by != CLEAN and r.index not in found_at:
                found_at[r.index] = e
    checks = check_examples(flags, {}, main)
    extra = {i: ex for i, ex in checks.items() if found_at.get(i, math.inf) > main}
    return StoredExamples(store, found_at, extra)


def check_examples(flags: list[MaskingFlag], examples: Examples, main: float) -> Examples:
    """``examples`` with the example of every sample a masking check broke at the main ε
    (the first flag naming a sample), unless one was found at a smaller ε."""
    out = dict(examples)
    for flag in flags:
        if flag.points is None or flag.logits is None:
            continue
        rows = zip(flag.samples, flag.distances, flag.points, flag.logits, strict=True)
        for i, d, point, logits in rows:
            if i not in out or out[i].eps > main:
                out[i] = AdversarialExample(i, f"check:{flag.check}", d, main, point, logits)
    return out
