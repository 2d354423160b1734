"""Results as strict JSON: infinite and undefined numbers become strings.

Problem solved: Python's ``json`` writes ``inf`` as ``Infinity``, which is not JSON:
``jq``, JavaScript and most other readers refuse the whole file. advkit writes ``"inf"``,
``"-inf"`` and ``"nan"`` instead, which ``float()`` reads back. Every object written
starts with the results schema version (:data:`advkit.schema.SCHEMA_VERSION`).

Example:
    >>> from advkit.cli.json_text import to_json
    >>> print(to_json({"eps": float("inf"), "curve": [0.5, float("nan")]}))
    {
     "schema_version": 1,
     "eps": "inf",
     "curve": [
      0.5,
      "nan"
     ]
    }
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from advkit.cli.outputs import atomic_write
from advkit.schema import SCHEMA_VERSION

__all__ = ["to_json", "write_json"]


def to_json(obj: Any) -> str:
    """``obj`` as indented JSON, non-finite floats written as strings (``"inf"``); an
    object (a dict) gets ``"schema_version"`` as its first key."""
    if isinstance(obj, dict):
        obj = {"schema_version": SCHEMA_VERSION, **obj}
    return json.dumps(_finite(obj), indent=1, allow_nan=False)


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as JSON (see :func:`to_json`) atomically to ``path``; return it."""
    text = to_json(obj)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # "inf", "-inf" or "nan"
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
