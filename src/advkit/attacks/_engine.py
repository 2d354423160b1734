"""The attack problem under its former import path (its home is :mod:`advkit.engine`)."""

from __future__ import annotations

from advkit.engine import Problem

__all__ = ["Problem"]
