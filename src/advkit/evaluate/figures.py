"""Writing matplotlib figures: one place for the backend, the layout, the folder and the
resolution, and for the message when matplotlib (the ``plots`` extra) is not installed.

Example:
    >>> from advkit.evaluate.figures import pyplot
    >>> plt = pyplot("an example figure")
    >>> plt.get_backend().lower()
    'agg'
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from advkit.extras import require

__all__ = ["pyplot", "save_figure"]


def pyplot(purpose: str) -> ModuleType:
    """``matplotlib.pyplot`` on the file-only Agg backend.

    Commands call it before any work, so that a missing matplotlib is reported at once.

    Args:
        purpose: what the figure is, for the message (``"the --certify plot"``).

    Raises:
        advkit.extras.MissingExtraError: matplotlib is not installed; the message says
            ``pip install 'advkit[plots]'``.
    """
    require("matplotlib", "plots", purpose).use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (creating its folder) at 120 dpi, close it."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    pyplot("a figure").close(fig)
    return out
