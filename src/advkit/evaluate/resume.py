"""What ties stored evaluation records to one run: the model, data, threat, suite and seed.

:func:`advkit.evaluate` keys its SQLite store (:class:`~advkit.store.ResultStore`) by this
configuration, so rerunning with the same store resumes the same evaluation and a store
of another evaluation is refused instead of mixed in. ε is not part of it: records are
keyed by (ε, sample index), so one store can grow an accuracy-vs-ε curve.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.resume import fingerprint
    >>> len(fingerprint(torch.nn.Linear(4, 2)))
    16
"""

from __future__ import annotations

import hashlib
from typing import Any

from torch import Tensor, nn

from advkit.evaluate.suites import Suite
from advkit.threat import ThreatModel

__all__ = ["fingerprint", "store_config"]


def fingerprint(model: nn.Module) -> str:
    """A short hash of the model's parameters and buffers (to tie stored results to it)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


RNG_SCHEME = "named-streams-1"
"""The seeding scheme (``advkit.engine.rng``): stores written under another scheme would
mix two sets of random draws on resume, so they are not reused."""


def store_config(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    suite: Suite,
    seed: int,
    batch_size: int,
) -> dict[str, Any]:
    """The JSON description of an evaluation that its stored records belong to."""
    data = hashlib.sha256(x.cpu().numpy().tobytes() + y.cpu().numpy().tobytes())
    return {
        "model": fingerprint(model),
        "data": data.hexdigest()[:16],
        "threat": repr(threat.with_eps(0.0)),  # norm, box and options; ε keys rows
        "suite": [f"{name}={method!r}" for name, method in suite],
        "seed": seed,
        "batch_size": batch_size,
        "rng": RNG_SCHEME,
    }
