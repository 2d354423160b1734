"""``advkit.certify``: run one certifier on a batch and return a :class:`CertResult`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.access.precision import call_model, model_input
from advkit.certify.graph import trace
from advkit.certify.input_set import InputSet
from advkit.certify.precision import bounding_copy, bounds_dtype
from advkit.certify.result import CertResult
from advkit.certify.store import BoundStore, open_bounds
from advkit.certify.task import CertOutput, CertTask
from advkit.distributed import RESUME, from_main, gather_batches, is_main
from advkit.objectives import is_successful
from advkit.threat import ThreatModel
from advkit.validate import (
    check_batch,
    check_clean_logits,
    check_labels,
    check_model,
    check_model_accepts,
)

__all__ = ["Certifier", "certify"]


class Certifier(Protocol):
    """A certifier configuration: a frozen dataclass with no model inside."""

    name: ClassVar[str]

    def run(self, task: CertTask) -> CertOutput: ...


def _check_request(
    x: Tensor, y: Tensor, threat: ThreatModel, method: Certifier, batch_size: int
) -> None:
    """Refuse a batch, threat, method or batch size :func:`certify` cannot use."""
    check_batch(x, y, lo=threat.lo, hi=threat.hi)
    threat.radius(x)
    if threat.p == 0:
        raise ValueError(
            "certifiers bound L∞, L2 and L1 balls; an L0 threat (changed-feature count) is "
            "not supported: certify an L∞ ball of the box width instead, or attack with JSMA"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not hasattr(method, "run") or not hasattr(method, "name"):
        raise TypeError(
            f"method must be a certifier such as advkit.CROWN(), got {type(method).__name__}"
        )


def _run_batches(
    model: nn.Module,
    x0: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Certifier,
    num_classes: int,
    batch_size: int,
    db: BoundStore | None,
    warm_start: Tensor | None = None,
) -> tuple[Tensor, Tensor] | None:
    """``method`` on batches of ``batch_size`` samples: the (N, K) margin lower bounds (on
    the CPU) and the (N, ...) candidate counterexamples (the clean inputs where none).

    Batches stored in ``db`` (rank 0's) are read back; new ones are saved there. Under
    torch.distributed the ranks share the batches (:mod:`advkit.distributed`): rank 0
    returns them all, the other ranks None.
    """
    graph = trace(model, x0)

    def bound(batch: range) -> tuple[Tensor, Tensor]:
        rows = torch.arange(batch.start, batch.stop, device=x0.device)
        sub_threat = threat.select(rows)
        xb = x0[rows]
        task = CertTask(
            model,
            graph,
            xb,
            y[rows],
            sub_threat,
            InputSet(sub_threat, xb),
            num_classes,
            None if warm_start is None else warm_start[rows],
        )
        with torch.no_grad():
            out = method.run(task)
        adv = out.x_adv.detach() if out.x_adv is not None else xb.clone()
        return out.class_lower.detach().cpu(), adv

    n = x0.shape[0]
    batches = [range(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    stored = db.load_bounds() if db is not None else {}
    skip = set(from_main(sorted(stored) if is_main() else None))  # every rank skips them
    keep = None if db is None else lambda b, r: db.save_bounds(b.start, *r)
    todo = [b for b in batches if b.start not in skip]
    parts = gather_batches(todo, bound, keep, RESUME)
    if parts is None:
        return None
    found = {**stored, **{b.start: part for b, part in zip(todo, parts, strict=True)}}
    lowers, advs = zip(*(found[b.start] for b in batches), strict=True)
    return torch.cat(lowers).clone(), torch.cat([a.to(x0.device) for a in advs])


def _open(
    store: str | Path | None,
    model: nn.Module,
    x0: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Certifier,
    batch_size: int,
) -> BoundStore | None:
    """The store of this certification on rank 0 (the one that stores), else None."""
    if store is None or not is_main():
        return None
    return open_bounds(store, model, x0, y, threat, method, batch_size)


def certify(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Certifier,
    *,
    batch_size: int = 64,
    warm_start: Tensor | None = None,
    store: str | Path | None = None,
) -> CertResult:
    """Certify ``model`` on the batch (x, y) within ``threat`` using ``method``.

    A sample is certified when the lower bound of its margin z_y − max_{j≠y} z_j over
    Δ(x) = ball ∩ box is positive; a misclassified sample is never certified. Exact methods
    (MIP) may also return counterexamples; these are re-checked by a forward pass and
    reported in ``attacked`` only if the model really misclassifies them inside Δ(x).
    In a torch.distributed process group this is a collective call: every rank calls it
    with the same arguments, the ranks share the batches and every rank returns the result
    a single process finds.

    Args:
        model: a classifier returning logits, built from the layers
            :func:`advkit.certify.graph.trace` supports (a clear error names any other).
        x: inputs (N, ...) in the threat's box.
        y: true labels (N,).
        threat: the perturbation set, e.g. ``Linf(0.1)``; ε may be per sample.
        method: the certifier, e.g. ``IBP()``, ``CROWN()``, ``AlphaCROWN()``, ``MIP()``.
        batch_size: samples bounded together (memory grows with it).
        warm_start: optional candidate counterexamples (N, ...), e.g. an attack's best points
            (projected onto Δ(x)); exact certifiers (MIP) answer a sample from its point
            when the point already changes the label, before any solve.
        store: SQLite file of the finished batches: rerunning with the same file reads
            them back instead of bounding them again (:mod:`advkit.certify.store`).

    Returns:
        A :class:`CertResult`.

    Example:
        >>> import torch, advkit
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 10)).eval()
        >>> x, y = torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 2])
        >>> res = advkit.certify(net, x, y, advkit.Linf(0.01), advkit.LinearExact())
        >>> res.certified.shape
        torch.Size([3])
    """
    check_model(model)
    _check_request(x, y, threat, method, batch_size)
    start = time.perf_counter()
    dtype = bounds_dtype(model, x)
    bounded = bounding_copy(model, dtype)
    x0 = x.detach().to(dtype, copy=True)
    y = y.detach().long()
    if warm_start is not None:
        if warm_start.shape != x.shape:
            raise ValueError(
                f"warm_start must have the inputs' shape {tuple(x.shape)}, got "
                f"{tuple(warm_start.shape)}: pass one candidate point per sample (e.g. the "
                "attack's x_adv)"
            )
        warm_start = threat.project(warm_start.detach().to(dtype), x0)
    n = x0.shape[0]
    with eval_mode(model), eval_mode(bounded, warn=False):
        num_classes = check_model_accepts(model, model_input(model, x0))
        check_labels(y, num_classes)
        with torch.no_grad():  # the decisions of the model itself, in its own dtype
            clean = call_model(model, x0)
        check_clean_logits(model, clean, range(n))
        db = _open(store, model, x0, y, threat, method, batch_size)
        try:
            bounds = _run_batches(
                bounded, x0, y, threat, method, num_classes, batch_size, db, warm_start
            )
        finally:
            if db is not None:
                db.close()
        if bounds is None:  # another rank of a distributed run: rank 0 finishes
            return from_main(None)
        class_lower, found = bounds
        with torch.no_grad():
            clean_wrong = (clean.argmax(1) != y).cpu()
            x_adv = threat.project(found.to(x0.dtype), x0)
            attacked = is_successful(call_model(model, x_adv), y, None).cpu()
    x0, x_adv, y = x0.cpu(), x_adv.cpu(), y.cpu()
    class_lower[torch.arange(n, device=y.device), y] = float("inf")
    lower = class_lower.min(dim=1).values
    certified = (lower > 0) & ~clean_wrong
    attacked = attacked & ~certified
    x_adv = torch.where(attacked.reshape(-1, *([1] * (x0.dim() - 1))), x_adv, x0)
    result = CertResult(
        lower=lower,
        class_lower=class_lower,
        certified=certified,
        attacked=attacked,
        x_adv=x_adv,
        y=y,
        threat=threat,
        method=method,
        seconds=time.perf_counter() - start,
    )
    return from_main(result)  # the same result on every rank of a distributed run
