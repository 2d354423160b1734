"""The results schema version: every JSON advkit writes carries it, and one reader checks it.

Problem solved: a results file outlives the advkit that wrote it. A reader that guessed at
the layout of a file written under another layout would re-check or report the wrong
fields without a word; instead, every JSON advkit writes starts with ``"schema_version"``
(:data:`SCHEMA_VERSION`), and :func:`read_results`, the one reader of results files
(``advkit verify`` uses it), refuses a file with another version, or none, saying what to
do. The version changes whenever a field that a reader relies on changes meaning or
disappears.

Example:
    >>> import json, tempfile, pathlib
    >>> from advkit.schema import SCHEMA_VERSION, SchemaMismatch, read_results
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "old.json"
    >>> _ = path.write_text(json.dumps({"robust_accuracy": 0.5}))
    >>> try:
    ...     read_results(path)
    ... except SchemaMismatch as err:
    ...     print(str(err).split(": ", 1)[1][:38])
    it has no schema_version (advkit reads
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_VERSION", "SchemaMismatch", "read_results"]

SCHEMA_VERSION = 1
"""The layout of advkit's JSON results. 1: the first versioned layout (``advkit
evaluate`` records its source, fingerprint and adversarial-examples file)."""


class SchemaMismatch(ValueError):
    """A results file that advkit cannot read: not JSON, or another schema version."""


def read_results(path: str | Path) -> dict[str, Any]:
    """The results JSON at ``path``, after checking its schema version.

    Args:
        path: a JSON file written by advkit (``advkit evaluate --out`` ...).

    Returns:
        The file's object, ``"schema_version"`` included; non-finite numbers stay the
        strings advkit writes (``"inf"``).

    Raises:
        SchemaMismatch: the file is not JSON, not an object, or carries another
            ``schema_version`` (or none); the message says how to get a readable file.
        OSError: the file cannot be read.
    """
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SchemaMismatch(
            f"{path} is not JSON ({err}); give the results file advkit wrote (--out)"
        ) from err
    if not isinstance(results, dict):
        raise SchemaMismatch(
            f"{path} is not an advkit results file (a JSON object); give the file "
            "advkit wrote (--out)"
        )
    version = results.get("schema_version")
    if version == SCHEMA_VERSION:
        return results
    found = "it has no schema_version" if version is None else f"schema_version {version!r}"
    raise SchemaMismatch(
        f"{path}: {found} (advkit reads schema_version {SCHEMA_VERSION}); it was written "
        "by another advkit version: rerun the command that wrote it with this advkit, or "
        "read it with the advkit that wrote it"
    )
