"""``advkit.evaluate``: robust accuracy as the per-sample worst case over an attack suite.

For every batch, the clean prediction is computed once; then for each ε in increasing
order the suite runs as a cascade on the samples still robust. A sample broken at a
smaller ε stays broken at every larger ε (its adversarial example lies in the larger
ball), so the accuracy-vs-ε curve is monotone and costs only the extra attacks it needs.

With a ``store`` path, per-sample records are written to SQLite batch by batch; rerunning
with the same path reads finished batches back instead of recomputing them. Because every
random choice is keyed by (seed, sample index), a resumed run gives identical results.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from advkit.access import eval_mode
from advkit.attacks.adaptive import EOT_SAMPLES, adapt
from advkit.attacks.run import attack
from advkit.evaluate.report import Evaluation
from advkit.evaluate.sanity import MaskingFlag, check_gradient_masking
from advkit.evaluate.suites import Suite, get_suite
from advkit.store import ResultStore
from advkit.threat import ThreatModel
from advkit.traits import is_random, needs_bpda
from advkit.validate import check_batch, check_labels, check_model_accepts

__all__ = ["evaluate", "fingerprint"]


def fingerprint(model: nn.Module) -> str:
    """A short hash of the model's parameters and buffers (to tie stored results to it)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _attack_batch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    index: Tensor,
    threat: ThreatModel,
    suite: Suite,
    seed: int,
    clean_pred: Tensor,
    previous: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    n = x.shape[0]
    robust = clean_pred == y
    broken_by: list[str | None] = ["clean" if not r else None for r in robust.tolist()]
    distance = [0.0 if not r else None for r in robust.tolist()]
    if previous is not None:
        for i, rec in enumerate(previous):
            if not rec["robust"]:
                robust[i] = False
                broken_by[i], distance[i] = rec["broken_by"], rec["distance"]
    queries = torch.zeros(n, dtype=torch.long)
    grads = torch.zeros(n, dtype=torch.long)
    for name, method in suite:
        rows = robust.nonzero().squeeze(1)
        if rows.numel() == 0:
            break
        res = attack(model, x[rows], y[rows], threat, method, seed=seed, index=index[rows])
        queries[rows] += res.queries
        grads[rows] += res.gradient_calls
        for r, ok, d in zip(
            rows.tolist(), res.success.tolist(), res.distance.tolist(), strict=True
        ):
            if ok:
                robust[r] = False
                broken_by[r], distance[r] = name, d
    return [
        {
            "label": int(y[i]),
            "clean_pred": int(clean_pred[i]),
            "robust": bool(robust[i]),
            "broken_by": broken_by[i],
            "distance": distance[i],
            "queries": int(queries[i]),
            "gradient_calls": int(grads[i]),
        }
        for i in range(n)
    ]


def evaluate(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
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
) -> Evaluation:
    """Clean accuracy, robust accuracy (per-sample worst case over ``suite``) and curve.

    Args:
        model: the classifier, returning logits; evaluated in eval mode.
        data: ``(x, y)``: inputs (N, ...) in the threat's box and labels (N,).
        threat: the threat model; its ε (a float) is the main ε.
        suite: ``"fast"``, ``"standard"`` or a list of (name, attack) pairs.
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
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise TypeError("data must be a pair (x, y) of tensors")
    x, y = data
    check_batch(x, y, lo=threat.lo, hi=threat.hi)
    if isinstance(threat.eps, Tensor):
        raise ValueError("evaluate needs one ε for all samples; use eps_curve for several")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    eps_list = sorted({float(threat.eps), *(float(e) for e in eps_curve)})
    if eps_list[0] < 0:
        raise ValueError("every ε must be >= 0")
    y = y.long()
    n = x.shape[0]
    with eval_mode(model):
        classes = check_model_accepts(model, x)
    check_labels(y, classes)
    attacks = get_suite(suite, threat.name, classes)
    if adaptive:
        attacks = [(name, adapt(model, method, eot_samples)) for name, method in attacks]
    db = None
    if store is not None:
        config = {
            "model": fingerprint(model),
            "data": hashlib.sha256(
                x.cpu().numpy().tobytes() + y.cpu().numpy().tobytes()
            ).hexdigest()[:16],
            "threat": repr(threat.with_eps(0.0)),  # norm, box and options; ε keys rows
            "suite": [f"{name}={method!r}" for name, method in attacks],
            "seed": seed,
            "batch_size": batch_size,
        }
        db = ResultStore(store, config)
    samples: dict[float, list[dict[str, Any]]] = {e: [] for e in eps_list}
    start_time = time.perf_counter()
    batches = range(0, n, batch_size)
    bar = tqdm(total=len(batches) * len(eps_list), disable=not progress, desc="evaluate")
    try:
        for start in batches:
            stop = min(start + batch_size, n)
            idx = list(range(start, stop))
            xb, yb = x[start:stop], y[start:stop]
            clean_pred: Tensor | None = None
            previous = None
            for e in eps_list:
                recs = db.load(e, idx) if db is not None else None
                if recs is None:
                    if clean_pred is None:
                        with eval_mode(model), torch.no_grad():
                            clean_pred = model(xb).argmax(dim=1)
                    recs = _attack_batch(
                        model,
                        xb,
                        yb,
                        torch.tensor(idx),
                        threat.with_eps(e),
                        attacks,
                        seed,
                        clean_pred,
                        previous,
                    )
                    if db is not None:
                        db.save(e, idx, recs)
                if previous is not None:  # records stored by a run with other ε values
                    recs = _carry(previous, recs)
                for i, rec in zip(idx, recs, strict=True):
                    samples[e].append({"index": i, **rec})
                previous = recs
                bar.update(1)
    finally:
        bar.close()
        if db is not None:
            db.close()
    main = float(threat.eps)
    masking = []
    if checks:
        curve = [(e, sum(r["robust"] for r in samples[e]) / n) for e in eps_list]
        robust = torch.tensor([bool(r["robust"]) for r in samples[main]])
        flags = check_gradient_masking(
            model,
            x,
            y,
            threat,
            robust=robust,
            curve=curve,
            adaptive=adaptive,
            eot_samples=eot_samples,
            seed=seed,
        )
        masking = [f.to_dict() for f in flags]
        _count_check_breaks(flags, samples, main)
    curve = [(e, sum(r["robust"] for r in samples[e]) / n) for e in eps_list]
    clean_acc = sum(r["label"] == r["clean_pred"] for r in samples[main]) / n
    return Evaluation(
        threat=threat.describe(),
        eps=main,
        suite=[name for name, _ in attacks],
        n=n,
        clean_accuracy=clean_acc,
        robust_accuracy=dict(curve)[main],
        curve=curve,
        samples=samples,
        seconds=time.perf_counter() - start_time,
        info=dict(info or {}),
        adaptive=_adaptive_label(model, adaptive, eot_samples),
        masking=masking,
    )


def _carry(smaller: list[dict[str, Any]], recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``recs`` with every sample broken at a smaller ε also broken here (same example).

    Records computed in this run already carry it; records read back from a store written
    with another list of ε may not, and the curve must stay monotone.
    """
    return [
        {**r, "robust": False, "broken_by": p["broken_by"], "distance": p["distance"]}
        if r["robust"] and not p["robust"]
        else r
        for p, r in zip(smaller, recs, strict=True)
    ]


def _count_check_breaks(
    flags: list[MaskingFlag], samples: dict[float, list[dict[str, Any]]], main: float
) -> None:
    """Samples a masking check broke (FGSM, random noise) count as broken at ε ≥ main.

    The check's example is a valid adversarial example in the main ball, hence in every
    larger one; leaving such samples robust would report a defense as stronger than the
    attacks showed it to be.
    """
    for flag in flags:
        for i, d in zip(flag.samples, flag.distances, strict=True):
            for e, recs in samples.items():
                if e >= main and recs[i]["robust"]:
                    recs[i].update(robust=False, broken_by=f"check:{flag.check}", distance=d)


def _adaptive_label(model: nn.Module, adaptive: bool, eot_samples: int) -> str:
    """What the attacks were wrapped in: "bpda", f"eot({n})", both, "none" or "off"."""
    parts = (["bpda"] if needs_bpda(model) else []) + (
        [f"eot({eot_samples})"] if is_random(model) else []
    )
    if not adaptive:
        return "off" + (f" (the model needs {'+'.join(parts)})" if parts else "")
    return "+".join(parts) or "none"
