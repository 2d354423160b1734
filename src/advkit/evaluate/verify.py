"""Re-verifying an evaluation from its evidence, independently of the attacks.

Problem solved: a robust accuracy is only as good as the examples behind it. Given the
model, the data and the kept adversarial examples
(:mod:`advkit.evaluate.examples`), :func:`verify_evaluation` re-checks each example with
nothing but the threat model's norm and one forward pass: it must lie in the ε-ball around
its clean input and in the box (allowing only the rounding slack of
:func:`advkit.threat.rounding.rounding_slack`) and the model must misclassify it. Robust
accuracy is then recomputed at every ε of the results from this evidence alone (a sample
is broken at ε when the model misclassifies it clean, or its example checks out at a
distance ≤ ε) and compared, sample by sample, with the reported verdicts.

:func:`verify_results` does the same from a results JSON written by ``advkit evaluate``:
it checks the schema version, the sha256 of the examples file, loads the model and data
again as recorded (:class:`~advkit.evaluate.provenance.RunSource`) and refuses to go on
when their fingerprint differs from the recorded one. ``advkit verify RESULTS.json``
prints its table; ``advkit evaluate`` runs it at the end.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.verify import verify_evaluation
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(20, 1, 8, 8), torch.randint(0, 10, (20,))
    >>> ev = advkit.evaluate(model, (x, y), advkit.Linf(0.1), "fast", progress=False)
    >>> verify_evaluation(model, (x, y), advkit.Linf(0.1), ev).ok
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.access.precision import model_input, working_dtype
from advkit.data.samples import Samples
from advkit.evaluate.examples import (
    AdversarialExample,
    examples_path,
    file_sha256,
    load_examples,
)
from advkit.evaluate.provenance import Fingerprint, RunSource
from advkit.evaluate.records import CLEAN, SampleRecord
from advkit.evaluate.report import Evaluation
from advkit.evaluate.scan import DataScan, scan_samples
from advkit.evaluate.verification import CurvePoint, Disagreement, Verification
from advkit.schema import SCHEMA_VERSION, read_results
from advkit.threat import ThreatModel
from advkit.threat.rounding import rounding_slack

__all__ = ["EvidenceMismatch", "verify_evaluation", "verify_results"]

_BATCH = 256


class EvidenceMismatch(ValueError):
    """The evidence cannot be re-checked: another model or data, a modified or missing
    examples file, or results without kept examples."""


@dataclass(frozen=True)
class _Evidence:
    """What the re-check measured for every kept example (rows in sorted index order)."""

    index: list[int]
    distance: Tensor  # (M,) float64, in the threat's norm
    in_box: Tensor  # (M,) bool
    wrong: Tensor  # (M,) bool: the model misclassifies it
    logit_gap: float

    rows: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", {i: r for r, i in enumerate(self.index)})

    def row(self, i: int) -> int | None:
        """The row of sample ``i``, or None when no example was kept for it."""
        return self.rows.get(i)


def verify_evaluation(
    model: nn.Module,
    data: tuple[Tensor, Tensor] | Samples,
    threat: ThreatModel,
    evaluation: Evaluation,
    *,
    batch_size: int = _BATCH,
) -> Verification:
    """Re-check an evaluation's kept examples and recompute its accuracies.

    Args:
        model: the evaluated classifier.
        data: the evaluated ``(x, y)`` or :class:`~advkit.data.samples.Samples` (read a
            batch at a time).
        threat: the evaluation's threat model (its norm and box; the ε values are those
            of ``evaluation``).
        evaluation: the result of :func:`advkit.evaluate` on them.
        batch_size: samples read and re-checked together.

    Returns:
        A :class:`~advkit.evaluate.verification.Verification`; ``ok`` when everything
        agrees.
    """
    samples = Samples.of(data)
    scan = scan_samples(model, samples, threat.lo, threat.hi, batch_size, clean=True)
    return _verify(
        model,
        samples,
        _Seen.of(scan),
        threat,
        evaluation.examples,
        evaluation.samples,
        evaluation.curve,
        evaluation.clean_accuracy,
        batch_size,
    )


def verify_results(
    path: str | Path, loaded: tuple[nn.Module, Samples] | None = None, batch_size: int = _BATCH
) -> Verification:
    """Re-verify the results JSON ``advkit evaluate`` wrote at ``path``.

    Args:
        path: the results JSON; its examples file lies beside it.
        loaded: ``(model, samples)`` to verify against when they are at hand (``advkit
            evaluate`` passes the ones it evaluated); default: loaded again from the
            results' source. Their fingerprint is checked either way.
        batch_size: samples read and re-checked together.

    Raises:
        advkit.schema.SchemaMismatch: the file has another schema version.
        EvidenceMismatch: no examples were kept, the examples file is missing or was
            modified (sha256), or the model or data loaded again differ from the
            evaluated ones (fingerprint); the message names what differs.
    """
    path = Path(path)
    results = read_results(path)
    file = _examples_file(path, results.get("adversarial_examples"))
    source = RunSource.from_dict(results.get("source"))
    recorded = Fingerprint.from_dict(results.get("fingerprint"))
    model, data = source.load() if loaded is None else loaded
    threat = source.threat()
    scan = scan_samples(model, data, threat.lo, threat.hi, batch_size, clean=True)
    now = Fingerprint.of_scan(model, scan, threat)  # one pass: the fingerprint and verdicts
    fingerprint = _check_fingerprint(path, source, recorded, now)
    samples = {
        float(eps): [SampleRecord.from_dict(r) for r in records]
        for eps, records in results["samples"].items()
    }
    curve = [(float(p["eps"]), float(p["robust_accuracy"])) for p in results["curve"]]
    examples = load_examples(file)
    accuracy = results["clean_accuracy"]
    check = _verify(
        model, data, _Seen.of(scan), threat, examples, samples, curve, accuracy, batch_size
    )
    checks = (f"schema_version {SCHEMA_VERSION}", f"sha256 of {file.name} matches", fingerprint)
    return replace(check, checks=checks)


def _examples_file(path: Path, kept: Any) -> Path:
    """The results' examples file, after checking that it exists and has its sha256."""
    if not isinstance(kept, dict):
        raise EvidenceMismatch(
            f"{path} keeps no adversarial examples (evaluated with --save-adv none, or "
            "--minimal): there is nothing to re-verify; evaluate again without "
            "--save-adv none to keep them"
        )
    file = examples_path(path)
    if not file.is_file():
        raise EvidenceMismatch(
            f"{file}, the adversarial examples of {path}, does not exist: keep the "
            "examples file beside the results JSON, under the same name (move or rename "
            "both together), or evaluate again"
        )
    digest = file_sha256(file)
    if digest != kept["sha256"]:
        raise EvidenceMismatch(
            f"{file} has sha256 {digest[:16]}..., not the {str(kept['sha256'])[:16]}... "
            f"recorded in {path}: the adversarial-examples file was modified or replaced "
            "after the evaluation; restore the original file, or evaluate again"
        )
    return file


def _check_fingerprint(
    path: Path, source: RunSource, recorded: Fingerprint, now: Fingerprint
) -> str:
    """A line saying the fingerprints match, or :class:`EvidenceMismatch` naming what
    differs."""
    if recorded.unknown is not None or now.unknown is not None:
        reason = recorded.unknown or now.unknown
        return f"model fingerprint not compared: advkit cannot establish its identity ({reason})"
    differs = now.differences(recorded)
    if differs:
        raise EvidenceMismatch(
            f"{path}: the model fingerprint differs: the {' and the '.join(differs)} of "
            f"{source.describe()}, loaded again, differ from the evaluated ones (model "
            f"{recorded.model[:12]}... recorded, {now.model[:12]}... now); restore the "
            "model and data the evaluation used, or evaluate this model again"
        )
    return "model and data fingerprint match"


def _verify(
    model: nn.Module,
    data: Samples,
    seen: _Seen,
    threat: ThreatModel,
    examples: Mapping[int, AdversarialExample],
    samples: Mapping[float, list[SampleRecord]],
    curve: list[tuple[float, float]],
    clean_accuracy: float,
    batch_size: int,
) -> Verification:
    """Re-check ``examples`` and compare every verdict of ``samples`` with the evidence."""
    y, correct = seen.y, seen.correct
    evidence = _measure(model, data, seen, threat, examples, batch_size)
    n = len(y)
    points, disagreements = [], []
    for eps, reported in curve:
        robust, found = _verdicts(seen, threat, eps, evidence, samples[eps])
        points.append(CurvePoint(eps, reported, int(robust.sum()) / n))
        disagreements += found
    return Verification(
        n=n,
        examples=len(evidence.index),
        clean_accuracy=int(correct.sum()) / n,
        reported_clean_accuracy=float(clean_accuracy),
        curve=tuple(points),
        disagreements=tuple(sorted(disagreements, key=lambda d: (d.index, d.eps))),
        logit_gap=evidence.logit_gap,
    )


@dataclass(frozen=True)
class _Seen:
    """The data as the model saw it (from one :func:`scan_samples` pass): labels, clean
    verdicts, input shape and dtype."""

    y: Tensor  # (N,) int64
    correct: Tensor  # (N,) bool: the model classifies the clean sample correctly
    shape: tuple[int, ...]  # one input's shape
    dtype: torch.dtype  # the inputs' dtype as the model sees them

    @classmethod
    def of(cls, scan: DataScan) -> _Seen:
        """The scan's labels, clean verdicts (``clean=True``) and first batch's shape."""
        assert scan.correct is not None
        return cls(scan.labels, scan.correct, tuple(scan.first.shape[1:]), scan.first.dtype)

    @property
    def numel(self) -> int:
        """Values per input."""
        return math.prod(self.shape)


def _measure(
    model: nn.Module,
    data: Samples,
    seen: _Seen,
    threat: ThreatModel,
    examples: Mapping[int, AdversarialExample],
    batch_size: int,
) -> _Evidence:
    """Distance, box and classification of every kept example, measured again (the
    clean samples they belong to read a batch at a time)."""
    index = sorted(i for i in examples if 0 <= i < len(seen.y))
    shape = seen.shape
    bad = [i for i in index if tuple(examples[i].x_adv.shape) != shape]
    if bad:
        raise EvidenceMismatch(
            f"the examples of samples {bad[:5]} have another shape than the data's {shape}: "
            "they belong to other data; evaluate again"
        )
    device = seen.y.device
    if not index:
        empty = torch.zeros(0, dtype=torch.bool, device=device)
        no_distance = torch.zeros(0, dtype=torch.float64, device=device)
        return _Evidence([], no_distance, empty, empty, 0.0)
    scale = max(abs(threat.lo), abs(threat.hi))
    _, box = rounding_slack(threat.p, 0.0, seen.numel, scale, working_dtype(seen.dtype))
    parts: list[tuple[Tensor, Tensor, Tensor]] = []
    gap = 0.0
    for rows, x, _ in data.batches(batch_size, index):
        wide = torch.stack([examples[i].x_adv for i in rows]).to(device, torch.float64)
        in_box = ((wide >= threat.lo - box) & (wide <= threat.hi + box)).reshape(len(rows), -1)
        logits = _logits(model, wide.to(seen.dtype))
        kept = torch.stack([examples[i].logits for i in rows]).to(device, torch.float32)
        same = kept.shape == logits.shape
        gap = max(gap, float((logits - kept).abs().max()) if same else float("inf"))
        clean = model_input(model, x).double()
        wrong = logits.argmax(1) != seen.y[torch.tensor(rows, device=device)]
        parts.append((threat.norm(wide - clean), in_box.all(dim=1), wrong))
    distance, inside, wrong = (torch.cat(p) for p in zip(*parts, strict=True))
    return _Evidence(index, distance, inside, wrong, gap)


def _verdicts(
    seen: _Seen,
    threat: ThreatModel,
    eps: float,
    evidence: _Evidence,
    records: list[SampleRecord],
) -> tuple[Tensor, list[Disagreement]]:
    """Which samples the evidence leaves robust at ε, and where the records differ."""
    scale = max(abs(threat.lo), abs(threat.hi))
    slack, _ = rounding_slack(threat.p, eps, seen.numel, scale, working_dtype(seen.dtype))
    y, correct = seen.y, seen.correct
    broken = ~correct
    rows = torch.tensor(evidence.index, dtype=torch.long, device=broken.device)
    if len(rows):
        fits = evidence.in_box & evidence.wrong & (evidence.distance <= eps + slack)
        broken[rows] |= fits & correct[rows]
    found = []
    for rec in records:
        if rec.robust == bool(~broken[rec.index]):
            continue
        reason = _reason(rec, int(y[rec.index]), eps, slack, bool(correct[rec.index]), evidence)
        found.append(Disagreement(rec.index, eps, reason))
    return ~broken, found


def _reason(
    rec: SampleRecord, label: int, eps: float, slack: float, correct: bool, evidence: _Evidence
) -> str:
    """Why the evidence gives another verdict than the record, in words."""
    row = evidence.row(rec.index)
    if rec.robust:
        if not correct:
            return "the results count it robust, but the model misclassifies it clean"
        d = float(evidence.distance[row]) if row is not None else float("nan")
        return f"the results count it robust, but its kept example breaks it (distance {d:.6g})"
    if rec.broken_by == CLEAN:
        return (
            "the results say it is misclassified clean, but the model classifies it "
            f"correctly (label {label})"
        )
    if row is None:
        return (
            f"broken by {rec.broken_by} in the results, but no adversarial example was kept for it"
        )
    if not bool(evidence.in_box[row]):
        return "its kept example lies outside the box"
    d = float(evidence.distance[row])
    if d > eps + slack:
        return f"its kept example lies outside the ε-ball (distance {d:.6g} > ε = {eps:g})"
    return f"the model classifies it correctly at its kept example (label {label})"


def _logits(model: nn.Module, x: Tensor) -> Tensor:
    """The model's logits at ``x`` (in the model's dtype), in float32, batch by batch."""
    out = []
    with eval_mode(model, warn=False), torch.no_grad():
        for start in range(0, x.shape[0], _BATCH):
            out.append(model(x[start : start + _BATCH].clone()).float())
    return torch.cat(out) if out else torch.zeros(0, 0, device=x.device)
