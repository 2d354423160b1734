"""Optional dependencies: import them when a feature needs them, or say what to install.

Problem solved: reading ONNX files or RobustBench models needs packages advkit does not
depend on (``onnx``, ``onnxruntime``, ``robustbench``). :func:`require` imports one when
the feature is used and, when it is missing, raises :class:`MissingDependencyError` whose
message names the feature and the ``pip install`` command that provides it.

Example:
    >>> from advkit.optional import require
    >>> require("math", "pip install nothing", "arithmetic").sqrt(4.0)
    2.0
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingDependencyError", "require"]


class MissingDependencyError(ImportError):
    """A feature needs a package that is not installed; the message says how to add it."""


def require(module: str, install: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or explain how to install it.

    Args:
        module: the module to import, e.g. ``"onnxruntime"``.
        install: the command that installs it, e.g. ``"pip install 'advkit[onnx]'"``.
        feature: what needs it, for the message, e.g. ``"checking an ONNX conversion"``.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: the module (or one it imports) cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{feature} needs the package {module.split('.')[0]!r}, which is not installed "
            f"({err}); install it with: {install}"
        ) from err
