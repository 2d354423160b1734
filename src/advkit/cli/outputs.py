"""The files a command writes: checked before any work, written atomically.

Problem solved: an output path that collides with another output or an input, lies in a
folder that cannot be written or has a suffix the writer silently changes loses data or
hours of work. Every subcommand lists its outputs as :class:`Output` records and calls
:func:`check_outputs` before it loads data or models; every file is then written with
:func:`atomic_write` (a temporary file in the same folder, renamed into place), so an
interrupted or failed write never leaves a truncated file, nor destroys the previous one.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from advkit.cli.errors import UsageError
    >>> from advkit.cli.outputs import Output, atomic_write, check_outputs
    >>> folder = Path(tempfile.mkdtemp())
    >>> out = Output("--out", folder / "r.json", "JSON results", (".json",))
    >>> store = Output("--store", folder / "r.json", "per-sample store")
    >>> check_outputs([out])
    >>> try:
    ...     check_outputs([out, store])
    ... except UsageError as err:
    ...     print(str(err).split("; ")[-1])
    give them different paths
    >>> atomic_write(out.path, lambda tmp: tmp.write_text("{}")).read_text()
    '{}'
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from advkit.cli.errors import UsageError

__all__ = ["Output", "atomic_write", "check_outputs"]


@dataclass(frozen=True)
class Output:
    """One file a command writes.

    Attributes:
        option: the command-line option that sets the path (or that it is derived from,
            e.g. ``--out`` for the store beside the JSON file).
        path: where the file is written.
        what: what the file holds, for messages (``"JSON results"``).
        suffixes: the accepted endings, dot included (``(".npz", ".pt")``); empty: any.
    """

    option: str
    path: Path
    what: str
    suffixes: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"the <what> <path> (from <option>)"``, the subject of every message."""
        return f"the {self.what} {self.path} (from {self.option})"


def check_outputs(
    outputs: Sequence[Output], inputs: Mapping[str, str | Path | None] | None = None
) -> None:
    """Refuse, before any work, output paths that would lose data or fail late.

    Each output must have one of its suffixes, differ from every other output and from
    every input file, not be a folder, and lie in a folder that exists and is writable or
    can be created. Nothing is created or modified.

    Args:
        outputs: the files the command will write.
        inputs: the files it reads, by option (``{"--checkpoint": path}``); None values
            are skipped.

    Raises:
        UsageError: the first problem found, naming the path and the fix.
    """
    taken: dict[Path, str] = {}
    for option, path in (inputs or {}).items():
        if path is not None:
            taken[Path(path).resolve()] = f"the {option} file this command reads"
    for out in outputs:
        _check_suffix(out)
        key = out.path.resolve()
        if key in taken:
            raise UsageError(f"{out.describe()} is also {taken[key]}; give them different paths")
        taken[key] = f"the {out.what} (from {out.option})"
        _check_folder(out)


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` through ``write(temporary path)``, then rename it into place.

    The temporary file lies in the same folder (so the rename is atomic) and keeps the
    suffix, so writers that choose the format by suffix (``np.savez``, ``savefig``)
    behave as for ``path``. On failure it is removed and ``path`` is left as it was.

    Args:
        path: the destination; missing parent folders are created.
        write: called with the temporary path; must write the whole file there.

    Returns:
        ``path``.

    Raises:
        OSError: the folder or the file could not be written (disk full, permissions);
            its ``filename`` is ``path`` when the system did not name a file.
    """
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _check_suffix(out: Output) -> None:
    if out.suffixes and out.path.suffix not in out.suffixes:
        example = out.path.with_suffix(out.suffixes[0])
        raise UsageError(
            f"{out.describe()} must end in {' or '.join(out.suffixes)}; e.g. {out.option} {example}"
        )


def _check_folder(out: Output) -> None:
    if out.path.is_dir():
        raise UsageError(f"{out.describe()} is a folder; give a file name inside it")
    existing = out.path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"{out.describe()} cannot be written: {existing} is a file, not a folder; "
            f"choose another {out.option}"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".advkit-probe-"):
            pass
    except OSError as err:
        reason = (err.strerror or type(err).__name__).lower()
        raise UsageError(
            f"{out.describe()} cannot be written: the folder {existing} is not writable "
            f"({reason}); choose another {out.option} or make the folder writable"
        ) from err
