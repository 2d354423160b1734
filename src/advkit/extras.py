"""Optional parts of advkit: a module an extra installs, or the command that installs it.

Problem solved: plotting (matplotlib) and other heavy parts are optional extras
(``pip install 'advkit[plots]'``). A missing one must not show up as a bare
``ModuleNotFoundError`` deep in a run, after the work is done: :func:`require` imports
it or raises :class:`MissingExtraError` naming what needs it and the install command, and
commands call it before any work.

Example:
    >>> from advkit.extras import MissingExtraError, require
    >>> require("json", "plots", "a test").__name__
    'json'
    >>> try:
    ...     require("no_such_module", "plots", "a plot")
    ... except MissingExtraError as err:
    ...     print(err)  # doctest: +NORMALIZE_WHITESPACE
    a plot needs no_such_module, which cannot be imported (No module named
    'no_such_module'); install it with: pip install 'advkit[plots]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message gives the ``pip`` command."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, which the extra ``advkit[extra]`` installs.

    Args:
        module: the module to import, e.g. ``"matplotlib"``.
        extra: the extra of advkit that installs it, e.g. ``"plots"``.
        purpose: what needs it, for the message (``"the --certify plot"``).

    Returns:
        The imported module.

    Raises:
        MissingExtraError: it cannot be imported; the message names the install command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"{purpose} needs {module}, which cannot be imported ({err}); install it with: "
            f"pip install 'advkit[{extra}]'"
        ) from err
