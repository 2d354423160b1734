"""advkit's version, in one place.

The package metadata reads it (``[tool.setuptools.dynamic]`` in ``pyproject.toml``, without
importing advkit), ``advkit.__version__`` and ``advkit --version`` print it, and exported
results record it.

Example:
    >>> import advkit
    >>> from advkit.version import VERSION
    >>> advkit.__version__ == VERSION
    True
"""

__all__ = ["VERSION"]

VERSION = "0.1.0"
"""The release, as in ``pip install advkit==0.1.0``."""
