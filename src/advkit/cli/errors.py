"""Expected failures of the ``advkit`` command: one line naming the file and the fix.

Problem solved: a user who points advkit at a wrong file, works offline or lacks write
permission should read what went wrong and what to do, not a traceback. :func:`explain`
turns the exceptions advkit raises for such mistakes into a single line; any other
exception is a bug and keeps its traceback. ``advkit --debug`` shows the traceback of
every failure.

Example:
    >>> from advkit.cli.errors import UsageError, explain
    >>> explain(UsageError("--out a.txt: use a .json file name, e.g. --out a.json"))
    '--out a.txt: use a .json file name, e.g. --out a.json'
    >>> explain(PermissionError(13, "Permission denied", "results/r.json"))
    'results/r.json: permission denied; choose another path or fix the permissions'
    >>> explain(ZeroDivisionError("division by zero")) is None
    True
"""

from __future__ import annotations

import errno
import pickle
import re

from advkit.distributed import RankFailed
from advkit.extras import MissingExtraError

__all__ = ["EXPECTED", "UsageError", "explain"]


class UsageError(Exception):
    """A mistake in the command's options or files; the message says what and how to fix it."""


EXPECTED: tuple[type[BaseException], ...] = (
    UsageError,
    ValueError,  # includes StoreMismatch, ChecksumError and malformed dataset files
    TypeError,
    pickle.UnpicklingError,  # includes UnsafeCheckpointError
    OSError,  # includes FileNotFoundError, PermissionError and DownloadError
    MissingExtraError,  # an optional part (matplotlib, onnx, robustbench) is not installed
    RankFailed,  # a rank of a distributed run failed; it logged its own traceback
)
"""The exception types that are the user's to fix; anything else is a bug."""


def explain(err: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug.

    An :class:`OSError` that carries a file name and no message of advkit's own (raised by
    the operating system) becomes ``"<file>: <reason>; <fix>"``; every other expected
    failure keeps its message, joined into one line.

    Args:
        err: the exception a command raised.

    Returns:
        A single line without the ``advkit: error:`` prefix, or None when ``err`` is not
        an expected failure (its traceback should be shown).
    """
    if not isinstance(err, EXPECTED):
        return None
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        reason = err.strerror[0].lower() + err.strerror[1:]
        if isinstance(err, PermissionError):
            fix = "choose another path or fix the permissions"
        elif err.errno == errno.ENOSPC:
            fix = "free some disk space or choose another path"
        else:
            fix = "check the path"
        return f"{err.filename}: {reason}; {fix}"
    text = re.sub(r"\s*\n\s*", " ", str(err)).strip()
    return text or type(err).__name__
