"""What ties stored evaluation records to one run: the model, data, threat, suite and seed.

:func:`advkit.evaluate` keys its SQLite store (:class:`~advkit.store.ResultStore`) by this
configuration, so rerunning with the same store resumes the same evaluation and a store
of another evaluation is refused instead of mixed in. The model enters by its identity
(:mod:`advkit.evaluate.fingerprint`: weights, layers and outputs on a probe batch), not
by its weights alone. ε is not part of it: records are keyed by (ε, sample index), so one
store can grow an accuracy-vs-ε curve.

Example:
    >>> import tempfile, pathlib, torch, advkit
    >>> from advkit.data.samples import Samples
    >>> from advkit.evaluate.resume import open_store
    >>> from advkit.evaluate.scan import scan_samples
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x, y = torch.rand(3, 4), torch.tensor([0, 1, 0])
    >>> data = scan_samples(model, Samples.of((x, y)), 0.0, 1.0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.sqlite"
    >>> store = open_store(path, model, data, advkit.Linf(0.1), [], seed=0, batch_size=2)
    >>> store.close()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from advkit.evaluate.fingerprint import ModelIdentity, model_identity
from advkit.evaluate.scan import DataScan
from advkit.evaluate.suites import Suite
from advkit.store import ResultStore
from advkit.threat import ThreatModel

__all__ = ["RNG_SCHEME", "STORE_LAYOUT", "open_store", "store_config"]

RNG_SCHEME = "named-streams-1"
"""The seeding scheme (``advkit.engine.rng``): stores written under another scheme would
mix two sets of random draws on resume, so they are not reused."""

STORE_LAYOUT = "records+examples+estimates-2"
"""What a store holds per sample: its record (with its robustness estimates, when asked)
and the adversarial example that broke it. A store written before examples or estimates
were kept would resume without them, so it is not reused."""


def open_store(
    path: str | Path,
    model: nn.Module,
    data: DataScan,
    threat: ThreatModel,
    suite: Suite,
    seed: int,
    batch_size: int,
    estimates: dict[str, Any] | None = None,
    precision: str = "fp32",
) -> ResultStore:
    """The store at ``path`` for this evaluation, or :class:`~advkit.store.StoreMismatch`.

    ``estimates``: the settings of the per-sample robustness estimates
    (:func:`~advkit.evaluate.estimates.estimate_settings`), None when not asked; records
    with and without them are never mixed. ``precision``: the attacks' autocast
    precision; records of another precision are never mixed either. Waits while another
    run holds the store (:class:`~advkit.store_lock.StoreLock`).
    """
    identity = model_identity(model, data.first, threat.lo, threat.hi)
    config = store_config(identity, data.digest, threat, suite, seed, batch_size)
    if threat.name == "l1":  # APGD at L1 became l1-APGD: records of the old step are not reused
        config["l1_step"] = "l1-apgd"
    config["estimates"] = estimates
    if precision != "fp32":  # fp32 stores keep the configuration they always had
        config["precision"] = precision
    return ResultStore(path, config, identity)


def store_config(
    model: ModelIdentity,
    data: str,
    threat: ThreatModel,
    suite: Suite,
    seed: int,
    batch_size: int,
) -> dict[str, Any]:
    """The JSON description of an evaluation that its stored records belong to."""
    return {
        "model": model.key,
        "data": data,  # tensor_digest of the inputs as the model sees them and the labels
        "threat": repr(threat.with_eps(0.0)),  # norm, box and options; ε keys rows
        "suite": [f"{name}={method!r}" for name, method in suite],
        "seed": seed,
        "batch_size": batch_size,
        "rng": RNG_SCHEME,
        "layout": STORE_LAYOUT,
    }
