"""The import rules between advkit's packages, checked on the source with ``ast``.

1. ``advkit.attacks`` and ``advkit.certify`` never import ``advkit.defenses``: attacks ask
   the model's traits (:mod:`advkit.traits`) and views (:mod:`advkit.access`) instead.
2. No private name (``_x``), and nothing from a private module (``advkit.attacks._engine``),
   is imported across packages. A package is ``advkit.<name>``; a top-level module such as
   ``advkit/traits.py`` is a package of its own, and so is ``advkit/__init__.py``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Violations of rule 2 that are allowed (none: the seeding helper is public in
# advkit.engine.rng). Nothing may be added here.
ALLOWED_PRIVATE: set[tuple[str, str]] = set()

NO_DEFENSES = ("advkit.attacks", "advkit.certify")


@dataclass(frozen=True)
class Import:
    """One imported name: ``module`` imports ``target`` (a module, or module.name)."""

    module: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def package_of(module: str) -> str:
    """``advkit.<name>`` for every module below advkit; ``advkit`` for advkit itself."""
    return ".".join(module.split(".")[:2])


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    keep = len(base) - node.level + (1 if is_package else 0)
    return ".".join([*base[:keep], *([node.module] if node.module else [])])


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = resolve(module, path.name == "__init__.py", node)
            found += [Import(module, f"{source}.{a.name}", node.lineno) for a in node.names]
    return [i for i in found if i.target.split(".")[0] == "advkit"]


def all_imports() -> list[Import]:
    return [i for path in sorted((SRC / "advkit").rglob("*.py")) for i in imports_of(path)]


def is_private(target: str) -> bool:
    return any(part.startswith("_") for part in target.split("."))


def private_across_packages(imports: list[Import]) -> set[tuple[str, str]]:
    return {
        (i.module, i.target)
        for i in imports
        if is_private(i.target) and package_of(i.module) != package_of(i.target)
    }


def test_the_scan_sees_every_package() -> None:
    imports = all_imports()
    packages = {package_of(i.module) for i in imports}
    assert {"advkit", "advkit.access", "advkit.attacks", "advkit.certify"} <= packages
    assert {"advkit.defenses", "advkit.distortion", "advkit.evaluate"} <= packages
    assert len(imports) > 300


def test_attacks_and_certify_never_import_defenses() -> None:
    bad = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in all_imports()
        if package_of(i.module) in NO_DEFENSES and i.target.startswith("advkit.defenses")
    ]
    assert not bad, "ask advkit.traits or an advkit.access view instead:\n" + "\n".join(bad)


def test_no_private_name_crosses_a_package() -> None:
    found = private_across_packages(all_imports())
    bad = sorted(found - ALLOWED_PRIVATE)
    assert not bad, "make the name public or move it:\n" + "\n".join(map(str, bad))
    stale = sorted(ALLOWED_PRIVATE - found)
    assert not stale, "these are fixed: remove them from ALLOWED_PRIVATE:\n" + "\n".join(
        map(str, stale)
    )


def test_the_rules_catch_what_they_name() -> None:
    """The checker itself: relative imports resolve, private modules and names count."""
    tree = ast.parse("from ..attacks._engine import Problem\nfrom . import _helper\n")
    first, second = (n for n in tree.body if isinstance(n, ast.ImportFrom))
    assert resolve("advkit.defenses.training", False, first) == "advkit.attacks._engine"
    assert resolve("advkit.defenses", True, second) == "advkit.defenses"
    found = private_across_packages(
        [
            Import("advkit.defenses.x", "advkit.attacks._engine.Problem", 1),
            Import("advkit.distortion", "advkit.attacks.run._check", 1),
            Import("advkit.attacks.cw", "advkit.attacks._minimal.Smallest", 1),
            Import("advkit.evaluate.run", "advkit.attacks.run.attack", 1),
        ]
    )
    assert found == {
        ("advkit.defenses.x", "advkit.attacks._engine.Problem"),
        ("advkit.distortion", "advkit.attacks.run._check"),
    }
