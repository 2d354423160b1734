"""One run at a time on a results store: an exclusive lock held for the run's duration.

Two runs of one evaluation on one store would each compute every batch the other has not
saved yet, doing all the work twice. The run holding the lock computes; a second run
waits (and logs why), then reads the finished batches back, so the work is done once.

The lock is SQLite's exclusive lock on a sidecar file ``<store>.lock`` (zero bytes, no
journal): the operating system drops it when its process ends, even on SIGKILL, so a
dead run never blocks the next one. It works wherever SQLite does.

Example:
    >>> import tempfile, pathlib
    >>> from advkit.store_lock import StoreLock
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.sqlite"
    >>> lock = StoreLock(path)
    >>> lock.path.name
    'run.sqlite.lock'
    >>> lock.release()
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

__all__ = ["StoreLock"]

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How long one wait for the lock lasts before the next (keeps Ctrl-C responsive)."""


class StoreLock:
    """Hold the exclusive lock of the store at ``store``, waiting while another run does.

    Args:
        store: the results store's path; the lock is the file beside it with ``.lock``
            appended.
    """

    def __init__(self, store: Path) -> None:
        self.path = store.with_name(store.name + ".lock")
        self._db = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            if not self._acquire(0.0):
                logger.warning(
                    "waiting for another advkit run on %s to finish (it holds %s); its "
                    "finished batches will be read back. Stop it, or give this run "
                    "another store path, not to wait",
                    store,
                    self.path,
                )
                while not self._acquire(POLL_SECONDS):
                    pass
        except BaseException:
            self._db.close()
            raise

    def _acquire(self, seconds: float) -> bool:
        """Try to take the lock for up to ``seconds``; whether it was taken."""
        self._db.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
        try:
            self._db.execute("PRAGMA journal_mode=OFF")  # no journal file beside the lock
            self._db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as err:
            if "locked" not in str(err):
                raise
            return False
        return True

    def release(self) -> None:
        """Let the next run on the store go on (closing ends the locking transaction)."""
        self._db.close()
