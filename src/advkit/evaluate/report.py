"""The outcome of an evaluation: :class:`Evaluation`, with JSON and table renderings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from advkit.evaluate.estimates import estimates_lines, estimates_summary
from advkit.evaluate.examples import AdversarialExample
from advkit.evaluate.records import SampleRecord
from advkit.evaluate.sanity import MaskingFlag

__all__ = ["Evaluation"]


@dataclass(frozen=True)
class Evaluation:
    """Clean and robust accuracy, per-sample records, and the accuracy-vs-ε curve.

    Robust accuracy is the per-sample worst case over the suite: a sample is robust only
    if it is correctly classified and no attack of the cascade broke it. It is an *upper
    bound* on the true robust accuracy (attacks are lower bounds on the inner max).

    Attributes:
        threat: the threat model's description.
        eps: the main ε.
        suite: attack names in cascade order.
        n: number of samples.
        clean_accuracy: fraction correctly classified.
        robust_accuracy: fraction robust at ``eps``.
        curve: (ε, robust accuracy) for every evaluated ε, increasing.
        samples: per ε, one :class:`~advkit.evaluate.records.SampleRecord` per sample, in
            index order.
        seconds: wall time of this call (excluding records read back from a store).
        info: free-form context (model, dataset, seed).
        adaptive: the adaptive wrappers the attacks ran in ("bpda", "eot(20)", "none", or
            "off ..." when turned off).
        masking: the gradient-masking flags raised
            (:class:`~advkit.evaluate.sanity.MaskingFlag`); empty when none.
        examples: for every sample an attack (or a masking check) broke, by index, the
            :class:`~advkit.evaluate.examples.AdversarialExample` that broke it at the
            smallest ε; ``advkit evaluate`` writes them beside its JSON
            (:func:`~advkit.evaluate.examples.save_examples`).
        data_digest: the digest of the evaluated inputs (as the model saw them) and labels
            that keys its store (:func:`~advkit.evaluate.fingerprint.tensor_digest`).
    """

    threat: str
    eps: float
    suite: list[str]
    n: int
    clean_accuracy: float
    robust_accuracy: float
    curve: list[tuple[float, float]]
    samples: dict[float, list[SampleRecord]]
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    adaptive: str = "none"
    masking: list[MaskingFlag] = field(default_factory=list)
    examples: Mapping[int, AdversarialExample] = field(default_factory=dict, repr=False)
    data_digest: str = field(default="", repr=False)

    def broken_by(self, eps: float | None = None) -> dict[str, int]:
        """How many samples each attack broke first (and how many were already wrong)."""
        recs = self.samples[self.eps if eps is None else eps]
        return dict(Counter(r.broken_by for r in recs if r.broken_by is not None))

    def gradient_calls(self, eps: float | None = None) -> int:
        """Total input-gradient computations spent at ε."""
        return sum(r.gradient_calls for r in self.samples[self.eps if eps is None else eps])

    def to_dict(self, with_samples: bool = True) -> dict[str, Any]:
        """The JSON form (``advkit evaluate --out``); ``samples`` keyed by ``str(ε)``."""
        out: dict[str, Any] = {
            "threat": self.threat,
            "eps": self.eps,
            "suite": self.suite,
            "n": self.n,
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust_accuracy,
            "curve": [{"eps": e, "robust_accuracy": a} for e, a in self.curve],
            "broken_by": self.broken_by(),
            "gradient_calls": self.gradient_calls(),
            "seconds": self.seconds,
            "info": self.info,
            "adaptive": self.adaptive,
            "masking": [flag.to_dict() for flag in self.masking],
        }
        estimates = estimates_summary(self.samples)
        if estimates is not None:
            out["estimates"] = estimates
        if with_samples:
            out["samples"] = {
                str(e): [r.to_dict() for r in recs] for e, recs in self.samples.items()
            }
        return out

    def table(self) -> str:
        """A readable summary for the terminal."""
        lines = []
        if self.info:
            lines.append("  ".join(f"{k}: {v}" for k, v in self.info.items()))
        lines += [
            f"threat: {self.threat}   suite: {' -> '.join(self.suite)}   samples: {self.n}",
            f"clean accuracy   {100 * self.clean_accuracy:6.2f}%",
            f"robust accuracy  {100 * self.robust_accuracy:6.2f}%   (at eps={self.eps:g}; an "
            "upper bound: no attack of the suite broke these samples)",
        ]
        broken = self.broken_by()
        if broken:
            parts = [f"{k} {v}" for k, v in broken.items()]
            lines.append("broken by        " + ", ".join(parts))
        lines.append(f"gradient calls   {self.gradient_calls()}")
        if self.adaptive != "none":
            lines.append(f"adaptive attacks {self.adaptive}")
        estimates = estimates_summary(self.samples)
        if estimates is not None:
            lines += estimates_lines(estimates)
        if self.masking:
            lines.append("")
            lines.append(
                "WARNING: possible gradient masking; the robust accuracy above is likely "
                "an overestimate:"
            )
            for flag in self.masking:
                lines.append(f"  [{flag.check}] {flag.message}")
                lines.append(f"      -> {flag.remedy}")
        if len(self.curve) > 1:
            lines.append("")
            lines.append("     eps   robust accuracy")
            for e, a in self.curve:
                lines.append(f"{e:8.4g}   {100 * a:6.2f}%")
        return "\n".join(lines)
