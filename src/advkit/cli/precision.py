"""``--precision``: the precision attacks run the model in (``fp32``, ``bf16``, ``fp16``).

Under ``bf16``/``fp16`` the model's forward and backward run under ``torch.autocast``;
steps, projections and records stay in float32, and every success is confirmed by a
float32 forward (:func:`advkit.attack`).

Example:
    >>> import argparse
    >>> from advkit.cli.precision import add_precision
    >>> p = argparse.ArgumentParser()
    >>> add_precision(p)
    >>> p.parse_args(["--precision", "bf16"]).precision
    'bf16'
"""

from __future__ import annotations

from typing import Any

from advkit.access.precision import PRECISIONS

__all__ = ["add_precision"]


def add_precision(p: Any) -> None:
    """``--precision`` on the parser or argument group ``p``."""
    p.add_argument(
        "--precision",
        default="fp32",
        choices=list(PRECISIONS),
        help="run the model's forward/backward under autocast in bf16 or fp16 during "
        "attacks (default fp32); successes are confirmed in fp32",
    )
