"""Named per-sample random streams: the one seeding scheme of advkit.

Every random choice in advkit (an attack's random start, smoothing's noise, the order of a
training epoch, a transfer attack's substitute initialization) draws from a generator
seeded by a stable hash of integers: the run's seed, the sample's key (its dataset
index), and the stream's name with its indices. A sample therefore gets the same draws
whichever batch, shard or device it lands in, and two streams never share draws: the
generators are CPU generators, every draw is made on the CPU (``device=g.device``) and
then moved to the inputs' device, so a GPU run draws exactly the numbers a CPU run does.

Example:
    >>> import torch
    >>> from advkit.engine.rng import generator, stream
    >>> a = torch.rand(2, generator=generator(0, 7, stream("start", 1)))
    >>> b = torch.rand(2, generator=generator(0, 7, stream("start", 1)))
    >>> bool(torch.equal(a, b)), stream("start", 1) != stream("start", 2)
    (True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["generator", "generators", "mix", "stream"]

_MASK = (1 << 63) - 1
_U64 = 0xFFFFFFFFFFFFFFFF


def mix(*parts: int) -> int:
    """A 63-bit hash of integers (splitmix64 steps), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (p & _U64)) * 0xBF58476D1CE4E5B9 & _U64
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _U64
        h ^= h >> 31
    return h & _MASK


def stream(name: str, *index: int) -> int:
    """The id of the named stream ``name`` with integer ``index`` (e.g. a restart number).

    The name is hashed with FNV-1a, so ids do not depend on Python's string hashing.
    """
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & _U64
    return mix(h, *index)


def generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded by ``mix(*parts)``, e.g. ``generator(seed, key, stream(...))``."""
    return torch.Generator().manual_seed(mix(*parts))


def generators(seed: int, keys: Tensor, stream_id: int) -> list[torch.Generator]:
    """One generator per sample key, seeded by (seed, key, stream_id)."""
    return [generator(seed, int(k), stream_id) for k in keys.tolist()]
