"""The embedded default: a small CNN trained on the built-in 8×8 digits, cached on disk.

``advkit evaluate`` with no arguments evaluates this model, so a first-time user sees a
real robustness evaluation without downloading anything. The first call trains it
(a few seconds on a CPU, deterministic); later calls load the cached weights
(:func:`demo_cache_path`). An unreadable cache file is an error naming it: delete it and
the next call trains the model again.

The demo runs the ``quick`` suite (:data:`DEMO_SUITE`) on every test digit, about a
minute on 2 CPU cores with the training; the full evaluation, :data:`FULL_SUITE`, is one
flag away (``advkit evaluate --suite standard``). The model is tiny, so it runs on one
intra-op thread (:func:`demo_threads`).

Example:
    >>> from advkit.demo import demo_model
    >>> model = demo_model()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from advkit.data import cache_dir, load_dataset
from advkit.models.checkpoint import load_checkpoint

__all__ = [
    "DEMO_EPS",
    "DEMO_SUITE",
    "FULL_SUITE",
    "demo_cache_path",
    "demo_model",
    "demo_threads",
    "digits_cnn",
    "train_digits_cnn",
]

logger = logging.getLogger(__name__)

DEMO_EPS = 0.1
"""The demo's L∞ radius: 0.1 on [0, 1] pixels, i.e. 1.6 of the digits' 16 gray levels."""

DEMO_SUITE = "quick"
"""The demo's suite: APGD-CE, then APGD-T on the 3 likeliest wrong classes (on this model
it breaks what ``standard`` breaks, in a fraction of the time: no FAB-T and no Square, 3
targets, not 9)."""

FULL_SUITE = "standard"
"""The full evaluation the demo points to: AutoAttack's standard version (APGD-CE, APGD-T
and FAB-T on 9 classes, Square)."""

_VERSION = "v1"


@contextmanager
def demo_threads() -> Iterator[None]:
    """One intra-op thread while the demo model runs; the thread count is restored after.

    Its operations are too small to split (8×8 images, 40k parameters): a second thread
    only adds synchronization, and when the cores are busy its spin-waits cost several
    times the work itself (the demo's ``fast`` run: 11 s of CPU time on one thread, 54 s
    on two, on a loaded 2-core machine).

    Example:
        >>> with demo_threads():
        ...     torch.get_num_threads()
        1
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def digits_cnn() -> nn.Module:
    """A small CNN for 1×8×8 inputs and 10 classes (about 40k parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def train_digits_cnn(epochs: int = 40, seed: int = 0) -> nn.Module:
    """Train :func:`digits_cnn` on the digits training split (deterministic for a seed).

    Uses Adam (lr 1e-3, batch 64); the global RNG is left untouched.
    """
    x, y = load_dataset("digits", split="train")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = digits_cnn()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0], 64):
            idx = order[start : start + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def demo_cache_path(cache: Path | None = None) -> Path:
    """Where :func:`demo_model` keeps the trained weights, below ``cache`` or the cache."""
    return (cache or cache_dir()) / "models" / f"digits_cnn-{_VERSION}.pt"


def demo_model(cache: Path | None = None) -> nn.Module:
    """The demo CNN: loaded from the cache, or trained and cached on first use.

    Raises:
        ValueError: the cached weights cannot be read (truncated or corrupted); the
            message names the file and says to delete it.
    """
    path = demo_cache_path(cache)
    model = digits_cnn()
    if path.exists():
        try:
            model.load_state_dict(load_checkpoint(path))
        except (ValueError, RuntimeError, pickle.UnpicklingError) as err:
            raise ValueError(
                f"the cached demo model {path} cannot be read (truncated, corrupted or not "
                f"advkit's; {type(err).__name__}); delete it and run again: the demo model "
                "is retrained (about a minute)"
            ) from err
        return model.eval()
    logger.info("training the demo digits CNN (first run only)")
    model = train_digits_cnn()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # ranks of one run may train at once
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    return model
