"""An evaluation's batches shared among the ranks of a distributed run, stored by rank 0.

Rank 0 holds the store (:class:`~advkit.store.ResultStore`). Before any work it sorts the
batches: those stored at every ε are read back, those stored at some ε only (a run killed
between two ε, or one with other ε values) are finished by rank 0, which can read what is
stored, and the rest are dealt out to the least loaded rank. After each round rank 0
stores what the other ranks found, so a run killed or failed mid-way resumes from every
round it finished. Rank 0 yields every batch's records in batch order, as one process
does (:func:`advkit.evaluate.run.evaluate`).

Example:
    >>> from advkit.evaluate.shards import shared_batches
    >>> batches = [range(0, 2), range(2, 3)]
    >>> [list(r) for r in shared_batches(batches, lambda b, db: [len(b)], None, (0.1,))]
    [[2], [1]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from advkit.distributed import RESUME, from_main, run_rounds, world
from advkit.evaluate.examples import AdversarialExample
from advkit.evaluate.records import SampleRecord
from advkit.store import ResultStore

__all__ = ["BatchRecords", "shared_batches"]

BatchRecords = Iterable[tuple[float, list[SampleRecord], list[AdversarialExample]]]
"""One batch's records at each ε, with the examples first found at that ε."""

Compute = Callable[[range, ResultStore | None], BatchRecords]
"""One batch's records, read back from the store where stored (new ones saved there)."""


def shared_batches(
    batches: Sequence[range],
    compute: Compute,
    db: ResultStore | None,
    eps: Sequence[float],
) -> Iterator[BatchRecords] | None:
    """Every batch's records, computed by the ranks of a distributed run (or by this
    process alone), stored in ``db`` by rank 0.

    Args:
        batches: the batches of sample indices, in order.
        compute: one batch's records (given ``db`` on rank 0, None elsewhere).
        db: the store (rank 0 only; None without one).
        eps: every ε of the evaluation.

    Returns:
        On rank 0 (or in one process), each batch's records in batch order; None on the
        other ranks, once they computed their share.

    Raises:
        RankFailed: a rank failed on one of its batches (the others' records are stored).
    """
    rank, size = world()
    if size == 1:
        return (compute(b, db) for b in batches)
    if rank == 0:
        return _main_rank(batches, compute, db, eps, size)
    owners: dict[int, int] = from_main(None)  # rank of each batch to compute, by start
    todo = [b for b in batches if b.start in owners]
    shares = [owners[b.start] for b in todo]
    for _ in run_rounds(todo, shares, lambda b: list(compute(b, None)), RESUME):
        pass
    return None


def _main_rank(
    batches: Sequence[range],
    compute: Compute,
    db: ResultStore | None,
    eps: Sequence[float],
    size: int,
) -> Iterator[BatchRecords]:
    """Rank 0's part: deal the batches out, compute its own, store the others', yield
    every batch in order."""
    stored = [_stored(db, b, eps) for b in batches]
    todo = [b for b, s in zip(batches, stored, strict=True) if s < len(eps)]
    shares = _deal([s > 0 for b, s in zip(batches, stored, strict=True) if s < len(eps)], size)
    from_main({b.start: r for b, r in zip(todo, shares, strict=True)})
    computed = {b.start for b in todo}
    done: dict[int, BatchRecords] = {}
    ready = iter(batches)
    pending = next(ready, None)
    for batch, found, sender in run_rounds(todo, shares, lambda b: list(compute(b, db)), RESUME):
        if sender != 0 and db is not None:  # rank 0's own are stored as computed
            for e, records, examples in found:
                db.save(e, records, examples)
        done[batch.start] = found
        while pending is not None and (pending.start in done or pending.start not in computed):
            yield done.pop(pending.start) if pending.start in done else compute(pending, db)
            pending = next(ready, None)
    while pending is not None:  # batches stored at every ε after the last computed one
        yield compute(pending, db)
        pending = next(ready, None)


def _stored(db: ResultStore | None, batch: range, eps: Sequence[float]) -> int:
    """At how many of the ε values ``db`` holds every record of ``batch``."""
    if db is None:
        return 0
    return sum(db.load(e, list(batch)) is not None for e in eps)


def _deal(partial: Sequence[bool], size: int) -> list[int]:
    """The rank of each batch to compute: rank 0 for the ``partial`` ones (stored at some
    ε: it reads them from the store), the least loaded rank for the others."""
    load = [0] * size
    owners = []
    for part in partial:
        rank = 0 if part else min(range(size), key=load.__getitem__)
        load[rank] += 1
        owners.append(rank)
    return owners
