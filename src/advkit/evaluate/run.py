"""``advkit.evaluate``: robust accuracy as the per-sample worst case over an attack suite.

For every batch, the clean prediction is computed once; then for each ε in increasing
order the suite runs as a cascade on the samples still robust. A sample broken at a
smaller ε stays broken at every larger ε (its adversarial example lies in the larger
ball), so the accuracy-vs-ε curve is monotone and costs only the extra attacks it needs.

Every sample an attack breaks keeps the adversarial example that broke it
(:class:`~advkit.evaluate.examples.AdversarialExample`, in ``Evaluation.examples``): the
one found at the smallest ε that broke it, which serves every larger ε.

With a ``store`` path, per-sample records (:class:`~advkit.evaluate.records.SampleRecord`)
and examples are written to SQLite batch by batch; rerunning with the same path reads
finished batches back instead of recomputing them. Because every random choice is keyed
by (seed, sample index), a resumed run gives identical results and examples.

Under torch.distributed (``torchrun -m advkit evaluate``) the ranks share the batches and
rank 0 stores them all (:mod:`advkit.evaluate.shards`): the same records again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from advkit.access import eval_mode
from advkit.access.precision import autocast_dtype, model_input
from advkit.attacks.adaptive import EOT_SAMPLES, adapt
from advkit.attacks.run import attack
from advkit.data.samples import Samples
from advkit.distributed import from_main, is_main
from advkit.evaluate.check_breaks import (
    Examples,
    Records,
    check_examples,
    count_check_breaks,
    stored_examples,
)
from advkit.evaluate.estimates import check_estimable, estimate_settings, sample_estimates
from advkit.evaluate.examples import AdversarialExample
from advkit.evaluate.records import CLEAN, SampleRecord, carry_breaks
from advkit.evaluate.report import Evaluation
from advkit.evaluate.resume import open_store
from advkit.evaluate.sanity import MaskingFlag, check_gradient_masking
from advkit.evaluate.scan import scan_samples
from advkit.evaluate.shards import BatchRecords, shared_batches
from advkit.evaluate.suites import Suite, get_suite
from advkit.store import ResultStore
from advkit.threat import ThreatModel
from advkit.traits import is_random, needs_bpda
from advkit.validate import (
    check_batch,
    check_clean_logits,
    check_eps_curve,
    check_model,
    check_suite,
)

__all__ = ["evaluate"]


@dataclass(frozen=True)
class _Cascade:
    """What every batch of one evaluation runs: ``suite`` on ``model`` at each ε."""

    model: nn.Module
    threat: ThreatModel
    suite: Suite
    eps: tuple[float, ...]  # increasing; threat.eps among them
    seed: int
    estimates: bool = False  # add each sample's CLEVER score and margin radius
    precision: str = "fp32"  # the attacks' autocast precision (advkit.attack's precision)
    collect_examples: bool = True  # keep examples in memory (not with a store: it has them)


# Longer than 60 lines only through its docstring, which documents thirteen options.
def evaluate(
    model: nn.Module,
    data: tuple[Tensor, Tensor] | Samples,
    threat: ThreatModel,
    suite: str | Suite = "standard",
    *,
    eps_curve: list[float] | tuple[float, ...] = (),
    batch_size: int = 256,
    seed: int = 0,
    store: str | Path | None = None,
    progress: bool = True,
    info: dict[str, Any] | None = None,
    adaptive: bool = True,
    eot_samples: int = EOT_SAMPLES,
    checks: bool = True,
    estimates: bool = False,
    precision: str = "fp32",
    keep_examples: bool = True,
) -> Evaluation:
    """Clean accuracy, robust accuracy (per-sample worst case over ``suite``) and curve.

    In a torch.distributed process group (``torchrun``) this is a collective call: every
    rank calls it with the same arguments, the ranks share the batches, rank 0 stores
    them, and every rank returns the same result, the one a single process finds.

    Args:
        model: the classifier, returning logits; evaluated in eval mode.
        data: ``(x, y)``: inputs (N, ...) in the threat's box and labels (N,); the model
            sees a copy, so one that changes its input in place leaves ``x`` intact. Or
            :class:`~advkit.data.samples.Samples` (e.g. of a dataset from
            :func:`~advkit.data.open_dataset`), read a batch at a time: memory then
            grows with the batch, not with N (beside the per-sample records and the
            examples of the broken samples).
        threat: the threat model; its ε (a float) is the main ε.
        suite: a suite name (``"standard"``, ``"plus"``, ``"rand"``, ``"quick"``,
            ``"fast"``; :mod:`advkit.evaluate.suites`) or a list of (name, attack) pairs,
            each attack an instance such as ``("pgd", PGD(steps=50))``.
        eps_curve: more ε values for the accuracy-vs-ε curve.
        batch_size: samples per batch.
        seed: seed of every random choice (keyed per sample index).
        store: SQLite file for per-sample records; rerunning with the same file resumes.
        progress: show a progress bar.
        info: context recorded in the result (model name, dataset...).
        adaptive: wrap every attack in what the model needs (default True): BPDA when it
            contains non-differentiable advkit transforms, EOT when it contains random
            ones or modules marked random (:mod:`advkit.attacks.adaptive`). Turn off only
            to show how a defense fools plain attacks; the result records the choice.
        eot_samples: draws per EOT evaluation (default 20, as AutoAttack's rand version).
        checks: run the gradient-masking checks (:mod:`advkit.evaluate.sanity`) at the
            main ε and record their flags in the result (default True).
        estimates: add each sample's CLEVER score (an estimate, never a certificate) and,
            for chains of affine layers and ReLUs, its certified margin radius to its
            records (:mod:`advkit.evaluate.estimates`; default False, as it costs about
            500 gradient computations per sample and class).
        precision: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``: the suite's attacks
            run the model under ``torch.autocast`` and every success is confirmed by a
            float32 forward (:func:`advkit.attack`); clean accuracy and the
            gradient-masking checks stay in float32.
        keep_examples: return the adversarial example of every broken sample in
            ``Evaluation.examples`` (default True). False leaves them out (a ``store``
            saves them all the same), so that memory follows the batch on a long run
            whose examples are not wanted (``advkit evaluate --save-adv none``).

    Returns:
        An :class:`~advkit.evaluate.report.Evaluation`.

    Example:
        >>> import torch, advkit
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
        >>> x, y = torch.rand(20, 1, 8, 8), torch.randint(0, 10, (20,))
        >>> ev = advkit.evaluate(model, (x, y), advkit.Linf(0.1), "fast", progress=False)
        >>> ev.robust_accuracy <= ev.clean_accuracy
        True
    """
    check_model(model)
    check_suite(suite)
    autocast_dtype(precision)  # an unknown precision fails before any work
    samples, eps = _checked_inputs(data, threat, eps_curve, batch_size)
    if estimates:
        check_estimable(threat)
    scan = scan_samples(model, samples, threat.lo, threat.hi, batch_size)
    attacks = get_suite(suite, threat.name, scan.classes)
    if adaptive:
        attacks = [(name, adapt(model, method, eot_samples)) for name, method in attacks]
    db = None
    if store is not None and is_main():  # rank 0 stores every rank's records
        settings = estimate_settings(threat) if estimates else None
        db = open_store(store, model, scan, threat, attacks, seed, batch_size, settings, precision)
    collect = keep_examples and store is None
    cascade = _Cascade(model, threat, attacks, eps, seed, estimates, precision, collect)
    start_time = time.perf_counter()
    ran = _run_batches(cascade, samples, batch_size, db, progress)
    if ran is None:  # another rank of a distributed run: rank 0 finishes the evaluation
        return from_main(None)
    records, examples = ran
    flags: list[MaskingFlag] = []
    if checks:
        flags = _masking(cascade, samples, records, adaptive, eot_samples, batch_size)
    kept: Mapping[int, AdversarialExample] = {}
    if keep_examples and store is None:
        kept = dict(sorted(check_examples(flags, examples, float(threat.eps)).items()))
    elif keep_examples and store is not None:  # read from the store when looked up
        kept = stored_examples(store, records, flags, float(threat.eps))
    records = count_check_breaks(flags, records, float(threat.eps))
    curve = _curve(records)
    main = records[float(threat.eps)]
    evaluation = Evaluation(
        threat=threat.describe(),
        eps=float(threat.eps),
        suite=[name for name, _ in attacks],
        n=len(main),
        clean_accuracy=sum(r.label == r.clean_pred for r in main) / len(main),
        robust_accuracy=dict(curve)[float(threat.eps)],
        curve=curve,
        samples=records,
        seconds=time.perf_counter() - start_time,
        info=dict(info or {}),
        adaptive=_adaptive_label(model, adaptive, eot_samples),
        masking=flags,
        examples=kept,
        data_digest=scan.digest,
    )
    return from_main(evaluation)  # the same result on every rank of a distributed run


def _checked_inputs(
    data: tuple[Tensor, Tensor] | Samples,
    threat: ThreatModel,
    eps_curve: list[float] | tuple[float, ...],
    batch_size: int,
) -> tuple[Samples, tuple[float, ...]]:
    """(the samples, every ε in increasing order), or an error saying what is wrong (the
    samples themselves are checked batch by batch by :func:`scan_samples`)."""
    if not isinstance(data, Samples):
        if not (isinstance(data, tuple | list) and len(data) == 2):
            raise TypeError("data must be a pair (x, y) of tensors or advkit Samples")
        check_batch(*data, lo=threat.lo, hi=threat.hi)  # the messages name whole-data rows
    if isinstance(threat.eps, Tensor):
        raise ValueError("evaluate needs one ε for all samples; use eps_curve for several")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    eps = tuple(sorted({float(threat.eps), *check_eps_curve(eps_curve)}))
    if eps[0] < 0:
        raise ValueError("every ε must be >= 0")
    return Samples.of(data), eps


def _run_batches(
    cascade: _Cascade,
    data: Samples,
    batch_size: int,
    db: ResultStore | None,
    progress: bool,
) -> tuple[Records, Examples] | None:
    """Every batch at every ε, read back from ``db`` where stored; closes ``db``.

    Under torch.distributed the ranks share the batches (:mod:`advkit.evaluate.shards`):
    rank 0 returns them all, the other ranks None.
    """
    n = len(data)
    samples: Records = {e: [] for e in cascade.eps}
    examples: Examples = {}
    batches = [range(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    total = len(batches) * len(cascade.eps)
    bar = tqdm(total=total, disable=not progress or not is_main(), desc="evaluate")

    def records(batch: range, store: ResultStore | None) -> BatchRecords:
        return _batch_records(cascade, data, list(batch), store)

    try:
        shared = shared_batches(batches, records, db, cascade.eps)
        for batch_records in shared or ():
            for e, recs, found in batch_records:
                samples[e].extend(recs)
                if cascade.collect_examples:
                    examples.update((ex.index, ex) for ex in found)
                bar.update(1)
    finally:
        bar.close()
        if db is not None:
            db.close()
    return None if shared is None else (samples, examples)


def _batch_records(
    cascade: _Cascade, data: Samples, idx: list[int], db: ResultStore | None
) -> Iterator[tuple[float, list[SampleRecord], list[AdversarialExample]]]:
    """One batch's records at each ε in increasing order, with the examples of the
    samples first broken at that ε; new ones are saved to ``db``. The batch is read only
    when some ε is not stored."""
    x, y = torch.empty(0), torch.empty(0)
    clean_pred: Tensor | None = None
    estimated: tuple[list[float], list[float | None]] | None = None
    previous: list[SampleRecord] | None = None
    for e in cascade.eps:
        recs = db.load(e, idx) if db is not None else None
        if recs is not None and db is not None:
            if previous is not None:  # records stored by a run with other ε values
                recs = carry_breaks(previous, recs)
            wanted = _first_broken(previous, recs) if cascade.collect_examples else []
            found = list(db.load_examples(e, wanted).values())
        else:
            if clean_pred is None:
                x, y = data.take(idx)
                x = model_input(cascade.model, x)  # the points the model sees, as attack's
                clean_pred = _clean_pred(cascade.model, x, idx)
            threat = cascade.threat.with_eps(e)
            recs, found = _attack_batch(
                cascade.model,
                x,
                y,
                torch.tensor(idx, device=x.device),
                threat,
                cascade.suite,
                cascade.seed,
                clean_pred,
                previous,
                cascade.precision,
            )
            if cascade.estimates:
                estimated = estimated or _estimates(cascade, x, y, idx)
                clever, radius = estimated
                recs = [r.estimated(c, m) for r, c, m in zip(recs, clever, radius, strict=True)]
            if db is not None:
                db.save(e, recs, found)
        previous = recs
        yield e, recs, found


def _estimates(
    cascade: _Cascade, x: Tensor, y: Tensor, idx: list[int]
) -> tuple[list[float], list[float | None]]:
    """The batch's CLEVER scores and margin radii."""
    with eval_mode(cascade.model):
        return sample_estimates(
            cascade.model, x, y, torch.tensor(idx, device=x.device), cascade.threat, cascade.seed
        )


def _first_broken(previous: list[SampleRecord] | None, records: list[SampleRecord]) -> list[int]:
    """The indices of the samples an attack broke at this ε and not at the smaller one."""
    before: list[SampleRecord | None] = [*previous] if previous else [None] * len(records)
    return [
        r.index
        for r, p in zip(records, before, strict=True)
        if not r.robust and r.broken_by != CLEAN and (p is None or p.robust)
    ]


def _clean_pred(model: nn.Module, x: Tensor, idx: list[int]) -> Tensor:
    """The model's predictions on the clean batch ``x`` (given a copy, which a model that
    works in place may change); NaN or inf logits are an error naming samples ``idx``."""
    with eval_mode(model), torch.no_grad():
        logits = model(x.clone())
    check_clean_logits(model, logits, idx)
    return logits.argmax(dim=1)


def _attack_batch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    index: Tensor,
    threat: ThreatModel,
    suite: Suite,
    seed: int,
    clean_pred: Tensor,
    previous: list[SampleRecord] | None,
    precision: str = "fp32",
) -> tuple[list[SampleRecord], list[AdversarialExample]]:
    """The cascade on one batch at one ε: each attack runs on the samples still robust.

    ``previous`` holds the batch's records at the next smaller ε: samples broken there
    start out broken here. Returns the records and the examples of the samples broken.
    """
    records = [
        SampleRecord.start(i, label, pred)
        for i, label, pred in zip(index.tolist(), y.tolist(), clean_pred.tolist(), strict=True)
    ]
    if previous is not None:
        records = carry_breaks(previous, records)
    examples: list[AdversarialExample] = []
    for name, method in suite:
        rows = [i for i, r in enumerate(records) if r.robust]
        if not rows:
            break
        at = torch.tensor(rows, device=x.device)
        res = attack(
            model, x[at], y[at], threat, method, seed=seed, index=index[at], precision=precision
        )
        found = zip(
            rows,
            res.success.tolist(),
            res.distance.tolist(),
            res.queries.tolist(),
            res.gradient_calls.tolist(),
            strict=True,
        )
        adv, adv_logits = res.x_adv.cpu(), res.logits.cpu()  # examples are kept on the CPU
        for j, (r, ok, d, queries, grads) in enumerate(found):
            rec = records[r].spent(queries, grads)
            records[r] = rec.broken(name, d) if ok else rec
            if ok:
                point, logits = adv[j].clone(), adv_logits[j].clone()
                found_at = float(threat.eps)
                examples.append(AdversarialExample(rec.index, name, d, found_at, point, logits))
    return records, examples


def _curve(samples: Records) -> list[tuple[float, float]]:
    """(ε, fraction of samples robust) for every ε, increasing."""
    return [(e, sum(r.robust for r in recs) / len(recs)) for e, recs in samples.items()]


def _masking(
    cascade: _Cascade,
    data: Samples,
    records: Records,
    adaptive: bool,
    eot_samples: int,
    batch_size: int,
) -> list[MaskingFlag]:
    """The gradient-masking checks at the main ε, told what the cascade left robust."""
    main = float(cascade.threat.eps)
    return check_gradient_masking(
        cascade.model,
        data,
        cascade.threat,
        robust=torch.tensor([r.robust for r in records[main]], device=data.device),
        curve=_curve(records),
        adaptive=adaptive,
        eot_samples=eot_samples,
        seed=cascade.seed,
        batch_size=batch_size,
    )


def _adaptive_label(model: nn.Module, adaptive: bool, eot_samples: int) -> str:
    """What the attacks were wrapped in: "bpda", f"eot({n})", both, "none" or "off"."""
    parts = (["bpda"] if needs_bpda(model) else []) + (
        [f"eot({eot_samples})"] if is_random(model) else []
    )
    if not adaptive:
        return "off" + (f" (the model needs {'+'.join(parts)})" if parts else "")
    return "+".join(parts) or "none"
