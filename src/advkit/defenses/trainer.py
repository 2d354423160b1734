"""``advkit.train``: one training loop for every robust-training method, with resume.

Each epoch shuffles the data with a generator seeded by (seed, epoch), minimizes the
method's mean per-sample loss with Adam (or a given optimizer), and logs the epoch's mean
training loss and, on held-out data, clean accuracy and robust accuracy under a quick
PGD-10 (a cheap monitor; evaluate the final model with :func:`advkit.evaluate`).

Under ``torchrun`` (an initialized ``torch.distributed`` group of K > 1 processes) the
same run is split over the K processes with DistributedDataParallel: each takes
batch_size / K samples of every batch, and process 0 writes the checkpoint (see
:mod:`advkit.defenses.distributed`).

A checkpoint file (model, optimizer, epoch, history and the run's settings) is written
after every epoch with ``torch.save`` in a form that loads with ``weights_only=True``;
``resume=True`` continues from it and gives the same weights as an uninterrupted run. A
checkpoint written with other settings (method, threat, data, model, optimizer, batch
size, seed) is refused rather than continued (see :mod:`advkit.defenses.checkpoint`).

Example:
    >>> import torch, advkit
    >>> from advkit.demo import digits_cnn
    >>> from advkit.data import load_dataset
    >>> x, y = load_dataset("digits", split="train")
    >>> model = digits_cnn()
    >>> hist = advkit.train(model, (x, y), advkit.PGDTraining(steps=5), advkit.Linf(0.1),
    ...                     epochs=1, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from advkit.attacks.gradient import PGD
from advkit.defenses.checkpoint import TrainingSettings, load_checkpoint, save_checkpoint
from advkit.defenses.distributed import (
    DataParallelModel,
    Processes,
    epoch_order,
    idle_loss,
)
from advkit.defenses.training import Standard, TrainingMethod, attacking
from advkit.engine.rng import mix, stream
from advkit.threat import Linf, ThreatModel
from advkit.validate import check_batch, check_device

__all__ = ["certified_monitor", "monitor", "train"]

logger = logging.getLogger(__name__)


def monitor(
    model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, seed: int = 0
) -> tuple[float, float]:
    """Clean accuracy and robust accuracy under PGD-10 (one restart) on (x, y)."""
    from advkit.attacks.run import attack

    with attacking(model):
        with torch.no_grad():
            clean = model(x).argmax(dim=1) == y
        if float(threat.eps) == 0.0:
            return float(clean.float().mean()), float(clean.float().mean())
        res = attack(model, x, y, threat, PGD(steps=10, restarts=1), seed=seed)
    robust = clean & ~res.success
    return float(clean.float().mean()), float(robust.float().mean())


def certified_monitor(
    model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel
) -> dict[str, float]:
    """Certified accuracy on (x, y) by IBP, by CROWN and by either (both are sound)."""
    from advkit.certify import CROWN, IBP, certify

    with attacking(model):
        ibp = certify(model, x, y, threat, IBP()).certified
        crown = certify(model, x, y, threat, CROWN()).certified
    return {
        "ibp_certified_accuracy": float(ibp.float().mean()),
        "crown_certified_accuracy": float(crown.float().mean()),
        "certified_accuracy": float((ibp | crown).float().mean()),
    }


# Longer than 60 lines only through its docstring, which documents thirteen options.
def train(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    method: TrainingMethod | None = None,
    threat: ThreatModel | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
    eval_data: tuple[Tensor, Tensor] | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    certify_eval: bool | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` in place with ``method`` and return the per-epoch history.

    Args:
        model: the classifier to train (returning logits); left in eval mode at the end.
        data: training inputs (N, ...) in the threat's box and labels (N,).
        method: a training method (:class:`Standard`, :class:`FGSMTraining`,
            :class:`PGDTraining`, :class:`FastFGSM`, :class:`TRADES`,
            :class:`CertifiedTraining`, ...); default standard training. A method with an
            ``at(epoch, epochs)`` method (certified training) is positioned on its ε/κ
            schedule before every step.
        threat: the perturbation set the method trains against (required by adversarial
            methods) and the monitor's threat; e.g. ``Linf(0.1)``.
        epochs: number of passes over the data (default 10).
        batch_size: samples per step (default 64).
        lr: Adam's learning rate when no ``optimizer`` is given (default 1e-3).
        optimizer: an optimizer over ``model``'s parameters (overrides ``lr``).
        seed: seed of the shuffling and every attack's random start.
        eval_data: held-out (x, y) for the per-epoch clean/robust accuracy (keep it small:
            a few hundred samples).
        checkpoint: file written after every epoch (model, optimizer, epoch, history and
            the settings above).
        resume: continue from ``checkpoint`` if it exists. The checkpoint must have been
            written with the same method, threat, data, eval_data, model architecture,
            optimizer settings, batch size and seed; ``epochs`` may be larger (except
            for scheduled methods, whose ramps span the epochs) but not smaller than the
            epochs it holds.
        progress: show a progress bar over the batches.
        certify_eval: also log certified accuracy on ``eval_data`` at ``threat`` (IBP and
            CROWN) every epoch; default on for certified training methods given
            ``eval_data``.

    Raises:
        ValueError: invalid options, or ``resume`` with a checkpoint written by a
            different run (the message lists each differing setting).

    Returns:
        One dict per epoch: ``epoch``, ``loss`` (mean training loss), ``seconds``, with
        ``eval_data`` ``clean_accuracy`` and ``robust_accuracy`` (PGD-10 at ``threat``),
        with ``certify_eval`` ``ibp_certified_accuracy``, ``crown_certified_accuracy`` and
        ``certified_accuracy`` (certified by either), and for scheduled methods the
        schedule at the epoch's end (``eps_scale``, ``kappa``, ``beta``).
    """
    method = method if method is not None else Standard()
    certify_eval = _checked_options(
        data, method, threat, epochs, batch_size, eval_data, certify_eval, resume, checkpoint
    )
    check_device(model, data[0])
    processes = Processes.current()
    if processes is not None:
        processes.check(model, batch_size, method)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    saving = None
    if checkpoint is not None:
        # read before resuming: loading the optimizer replaces its hyperparameters
        settings = TrainingSettings.of(
            model,
            data,
            method,
            threat,
            opt,
            batch_size=batch_size,
            seed=seed,
            epochs=epochs,
            eval_data=eval_data,
            certify_eval=certify_eval,
        )
        saving = (Path(checkpoint), settings)
        if resume:
            history, start_epoch = load_checkpoint(saving[0], model, opt, settings, epochs)
    run = _TrainingRun(
        model=model,
        trained=model if processes is None else DataParallelModel(model),
        processes=processes,
        x=data[0],
        y=data[1].long(),
        method=method,
        threat=threat if threat is not None else Linf(0.0),
        optimizer=opt,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    for epoch in range(start_epoch, epochs):
        try:
            history.append(_epoch(run, epoch, eval_data, certify_eval))
        except Exception as err:
            if run.processes is not None:
                run.processes.explain_stop(err, epoch, saving[0] if saving else None)
            raise
        if saving is not None:
            path, settings = saving
            _on_rank_zero(
                run, partial(save_checkpoint, path, model, opt, epoch + 1, history, settings)
            )
    model.eval()
    return history


def _on_rank_zero(run: _TrainingRun, write: Callable[[], None]) -> None:
    """``write`` on the only process, or on process 0 while the others wait."""
    if run.processes is None:
        write()
    else:
        run.processes.on_rank_zero(write)


@dataclass(frozen=True)
class _TrainingRun:
    """What every epoch of one :func:`train` call uses."""

    model: nn.Module
    trained: nn.Module  # the model, or its DDP wrapper when split over processes
    processes: Processes | None
    x: Tensor
    y: Tensor
    method: TrainingMethod
    threat: ThreatModel  # the method's and the monitor's (Linf(0) when none was given)
    optimizer: torch.optim.Optimizer
    epochs: int
    batch_size: int
    seed: int
    progress: bool


def _checked_options(
    data: tuple[Tensor, Tensor],
    method: TrainingMethod,
    threat: ThreatModel | None,
    epochs: int,
    batch_size: int,
    eval_data: tuple[Tensor, Tensor] | None,
    certify_eval: bool | None,
    resume: bool,
    checkpoint: str | Path | None,
) -> bool:
    """Validate :func:`train`'s options; return whether to log certified accuracy."""
    x, y = data
    lo, hi = (threat.lo, threat.hi) if threat is not None else (0.0, 1.0)
    check_batch(x, y, lo=lo, hi=hi)
    if method.needs_threat and threat is None:
        raise ValueError(f"{method.name} training needs a threat model, e.g. advkit.Linf(0.1)")
    if isinstance(getattr(threat, "eps", None), Tensor):
        raise ValueError("train needs one ε for all samples (a float), not a per-sample tensor")
    if epochs < 0 or batch_size < 1:
        raise ValueError("epochs must be >= 0 and batch_size >= 1")
    if certify_eval is None:
        certify_eval = bool(getattr(method, "certifies", False)) and eval_data is not None
    if certify_eval and (eval_data is None or threat is None):
        raise ValueError("certify_eval needs eval_data and a threat model")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    return certify_eval


def _epoch(
    run: _TrainingRun,
    epoch: int,
    eval_data: tuple[Tensor, Tensor] | None,
    certify_eval: bool,
) -> dict[str, Any]:
    """Train one epoch, then monitor it: the epoch's history record (also logged)."""
    t0 = time.perf_counter()
    loss = _train_epoch(run, epoch)
    record = {"epoch": epoch + 1, "loss": loss, "seconds": time.perf_counter() - t0}
    record.update(_monitor_epoch(run, epoch, eval_data, certify_eval))
    logger.info(
        "epoch %d: %s",
        epoch + 1,
        ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"),
    )
    return record


def _train_epoch(run: _TrainingRun, epoch: int) -> float:
    """One pass over the data in an order seeded by (seed, epoch); the mean training loss.

    Split over K processes, each computes its share of every batch and scales its loss
    sum by K / (batch size), so DDP's gradient average is the whole batch's mean loss.
    """
    n, size = run.x.shape[0], run.batch_size
    starts = range(0, n, size)
    if run.processes is None:
        order = epoch_order(n, run.seed, epoch)
        shares, k = [order[s : s + size] for s in starts], 1
    else:
        shares, k = run.processes.batches(n, size, run.seed, epoch), run.processes.size
    run.model.train()
    total, count = 0.0, 0
    bar = tqdm(
        zip(starts, shares, strict=True),
        total=len(starts),
        disable=not run.progress,
        desc=f"{run.method.name} epoch {epoch + 1}/{run.epochs}",
        leave=False,
    )
    for start, idx in bar:
        method = run.method
        active = method.at(epoch + start / n, run.epochs) if hasattr(method, "at") else method
        seed = mix(run.seed, stream("epoch-attack", epoch))
        if idx.numel():
            idx = idx.to(run.x.device)
            losses = active.loss(run.trained, run.x[idx], run.y[idx], run.threat, idx, seed)
        else:
            losses = idle_loss(run.trained, run.x)
        loss = losses.sum() * k / min(size, n - start)
        run.optimizer.zero_grad()
        loss.backward()
        run.optimizer.step()
        total += float(losses.detach().sum())
        count += idx.numel()
        bar.set_postfix(loss=f"{total / max(count, 1):.3f}")
    run.model.eval()
    if run.processes is not None:
        total = run.processes.total(total, next(run.model.parameters()))
    return total / max(n, 1)


def _monitor_epoch(
    run: _TrainingRun,
    epoch: int,
    eval_data: tuple[Tensor, Tensor] | None,
    certify_eval: bool,
) -> dict[str, float]:
    """The schedule at the epoch's end and the held-out accuracies, for the history."""
    record: dict[str, float] = {}
    if hasattr(run.method, "at"):
        record.update(run.method.at(epoch + 1, run.epochs).schedule())
    if eval_data is not None:
        x, y = eval_data[0], eval_data[1].long()
        clean, robust = monitor(run.model, x, y, run.threat, run.seed)
        record["clean_accuracy"], record["robust_accuracy"] = clean, robust
        if certify_eval:
            record.update(certified_monitor(run.model, x, y, run.threat))
    return record
