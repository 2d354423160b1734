"""The examples of the documentation run: docs/architecture.md, and the docstrings of the
attack kernel (every module of advkit.engine) and of the attack catalog."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import advkit.engine
from conftest import ROOT

MODULES = [
    "advkit.engine",
    *(f"advkit.engine.{m.name}" for m in pkgutil.iter_modules(advkit.engine.__path__)),
    "advkit.attacks.catalog",
]


def test_architecture_examples_run() -> None:
    path = ROOT / "docs" / "architecture.md"
    result = doctest.testfile(str(path), module_relative=False, report=True)
    assert result.attempted > 0 and result.failed == 0, result


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), report=True)
    assert result.failed == 0, result
