"""A strict parser of the VNN-LIB subset VNN-COMP benchmarks use.

Problem solved: read a ``.vnnlib`` property into a :class:`~advkit.certify.vnn_property.
Property`. The subset: ``(declare-const X_i Real)`` / ``(declare-const Y_i Real)`` for the
flat network input and output, and ``(assert F)`` where F is built from ``and``, ``or``
and the comparisons ``<=``, ``>=``, ``<``, ``>`` between linear terms (numbers, variables,
``+``, ``-``, ``*`` by a number). Comments start with ``;``. The asserts are conjoined and
expanded into a disjunction of conjunctions; in each, every comparison either bounds one
input (``X_i`` against a number: the box) or relates outputs and numbers only (a row of
the output constraints). Strict and non-strict comparisons are read alike (the standard
reading of VNN-COMP). Anything else is an error naming the file and line.

A package on PyPI named ``vnnlib`` parses VNN-LIB 2.0 through compiled bindings; this
small parser needs no dependency and covers the benchmark subset.

Example:
    >>> from advkit.certify.vnnlib import parse_vnnlib
    >>> prop = parse_vnnlib('''
    ... (declare-const X_0 Real)
    ... (declare-const Y_0 Real)
    ... (declare-const Y_1 Real)
    ... (assert (>= X_0 -1))
    ... (assert (<= X_0 1))
    ... (assert (or (and (>= Y_1 Y_0)) (and (<= Y_0 -3))))''')
    >>> len(prop.disjuncts), prop.disjuncts[0].c.tolist(), prop.disjuncts[1].d.tolist()
    (2, [[1.0, -1.0]], [3.0])
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advkit.certify.vnn_property import Disjunct, Property

__all__ = ["VnnlibError", "parse_vnnlib", "read_vnnlib"]

_VARIABLE = re.compile(r"^([XY])_(\d+)$")
_COMPARISONS = {"<=": 1.0, "<": 1.0, ">=": -1.0, ">": -1.0}
_MAX_DISJUNCTS = 100_000


class VnnlibError(ValueError):
    """A VNN-LIB file outside the supported subset (file and line named)."""


@dataclass(frozen=True)
class _Node:
    """An s-expression: an atom (``atom`` set) or a list of ``items``, with its line."""

    line: int
    atom: str | None = None
    items: tuple[_Node, ...] = ()


@dataclass(frozen=True)
class _Linear:
    """A linear term Σ coef·var + const; variables as ("X" | "Y", index)."""

    coefs: dict[tuple[str, int], float]
    const: float


@dataclass(frozen=True)
class _Atom:
    """One comparison, normalised to Σ coef·var + const ≤ 0."""

    line: int
    term: _Linear


class _Parser:
    """Parses one file's text; ``source`` names it in errors."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.text = text
        self.declared: dict[str, set[int]] = {"X": set(), "Y": set()}

    def fail(self, line: int, what: str) -> VnnlibError:
        return VnnlibError(f"{self.source}:{line}: {what}")

    def tokens(self) -> list[tuple[str, int]]:
        out = []
        for number, raw in enumerate(self.text.splitlines(), start=1):
            code = raw.split(";", 1)[0]
            for tok in code.replace("(", " ( ").replace(")", " ) ").split():
                out.append((tok, number))
        return out

    def expressions(self) -> list[_Node]:
        stack: list[tuple[int, list[_Node]]] = [(0, [])]
        for tok, line in self.tokens():
            if tok == "(":
                stack.append((line, []))
            elif tok == ")":
                if len(stack) == 1:
                    raise self.fail(line, "unbalanced ')': remove it or add the matching '('")
                start, items = stack.pop()
                stack[-1][1].append(_Node(start, items=tuple(items)))
            else:
                stack[-1][1].append(_Node(line, atom=tok))
        if len(stack) > 1:
            raise self.fail(stack[-1][0], "this '(' is never closed: add the matching ')'")
        return stack[0][1]

    def head(self, node: _Node, what: str) -> str:
        if node.atom is not None or not node.items or node.items[0].atom is None:
            raise self.fail(node.line, f"expected {what}, got {self.show(node)}")
        return node.items[0].atom

    def show(self, node: _Node) -> str:
        if node.atom is not None:
            return repr(node.atom)
        return "(" + " ".join(self.show(i).strip("'") for i in node.items) + ")"

    def declare(self, node: _Node) -> None:
        parts = node.items
        name = parts[1].atom if len(parts) == 3 else None
        match = _VARIABLE.match(name or "")
        if match is None or parts[2].atom != "Real":
            raise self.fail(
                node.line,
                f"expected (declare-const X_i Real) or (declare-const Y_i Real), got "
                f"{self.show(node)}",
            )
        self.declared[match.group(1)].add(int(match.group(2)))

    def variable(self, node: _Node) -> tuple[str, int] | None:
        match = _VARIABLE.match(node.atom or "")
        if match is None:
            return None
        kind, index = match.group(1), int(match.group(2))
        if index not in self.declared[kind]:
            raise self.fail(node.line, f"{node.atom} is used before its declare-const")
        return kind, index

    def term(self, node: _Node) -> _Linear:
        if node.atom is not None:
            var = self.variable(node)
            if var is not None:
                return _Linear({var: 1.0}, 0.0)
            try:
                return _Linear({}, float(node.atom))
            except ValueError:
                raise self.fail(node.line, f"unknown term {node.atom!r}") from None
        op = self.head(node, "a term")
        args = [self.term(a) for a in node.items[1:]]
        if op == "+" and args:
            return _sum(args, [1.0] * len(args))
        if op == "-" and len(args) == 1:
            return _sum(args, [-1.0])
        if op == "-" and args:
            return _sum(args, [1.0] + [-1.0] * (len(args) - 1))
        if op == "*" and args and sum(1 for a in args if a.coefs) <= 1:
            factor = math.prod(a.const for a in args if not a.coefs)
            term = next((a for a in args if a.coefs), _Linear({}, 1.0))
            return _Linear({k: v * factor for k, v in term.coefs.items()}, term.const * factor)
        raise self.fail(node.line, f"unsupported term {self.show(node)} (linear terms only)")

    def formula(self, node: _Node) -> list[list[_Atom]]:
        """The formula as a disjunction of conjunctions of comparisons."""
        op = self.head(node, "a formula: and, or, <=, >=, <, >")
        args = node.items[1:]
        if op in _COMPARISONS and len(args) == 2:
            left, right = self.term(args[0]), self.term(args[1])
            sign = _COMPARISONS[op]
            return [[_Atom(node.line, _sum([left, right], [sign, -sign]))]]
        if op == "or" and args:
            return [conj for a in args for conj in self.formula(a)]
        if op == "and" and args:
            return self.conjoin([self.formula(a) for a in args], node.line)
        raise self.fail(node.line, f"unsupported formula {self.show(node)}")

    def conjoin(self, parts: list[list[list[_Atom]]], line: int) -> list[list[_Atom]]:
        if math.prod(len(p) for p in parts) > _MAX_DISJUNCTS:
            raise self.fail(line, f"the property expands to over {_MAX_DISJUNCTS} disjuncts")
        return [[a for conj in combo for a in conj] for combo in itertools.product(*parts)]

    def parse(self) -> Property:
        asserts: list[list[list[_Atom]]] = []
        for node in self.expressions():
            head = self.head(node, "(declare-const ...) or (assert ...)")
            if head == "declare-const":
                self.declare(node)
            elif head == "assert" and len(node.items) == 2:
                asserts.append(self.formula(node.items[1]))
            else:
                raise self.fail(node.line, f"unsupported command {self.show(node)}")
        sizes = {k: self.count(k) for k in ("X", "Y")}
        conjunctions = self.conjoin(asserts, 1) if asserts else [[]]
        parts = [self.disjunct(c, sizes["X"], sizes["Y"]) for c in conjunctions]
        return Property(
            self.source, sizes["X"], sizes["Y"], tuple(p for p in parts if p is not None)
        )

    def count(self, kind: str) -> int:
        indices = self.declared[kind]
        if not indices or indices != set(range(len(indices))):
            raise VnnlibError(
                f"{self.source}: declare the {kind}_i as {kind}_0 ... {kind}_(n-1) with "
                f"(declare-const {kind}_0 Real) and so on"
            )
        return len(indices)

    def disjunct(self, atoms: list[_Atom], d: int, m: int) -> Disjunct | None:
        """The box and rows of one conjunction (None when its box is empty)."""
        lower, upper = np.full(d, -np.inf), np.full(d, np.inf)
        rows: list[np.ndarray] = []
        consts: list[float] = []
        for atom in atoms:
            kinds = {k for k, _ in atom.term.coefs}
            if kinds == {"Y"} or not kinds:
                if not kinds:
                    raise self.fail(atom.line, "a comparison between numbers only")
                row = np.zeros(m)
                for (_, i), v in atom.term.coefs.items():
                    row[i] = v
                rows.append(row)
                consts.append(atom.term.const)
            elif kinds == {"X"} and len(atom.term.coefs) == 1:
                ((_, i), coef), bound = next(iter(atom.term.coefs.items())), -atom.term.const
                if coef > 0:
                    upper[i] = min(upper[i], bound / coef)
                else:
                    lower[i] = max(lower[i], bound / coef)
            else:
                raise self.fail(
                    atom.line,
                    "a comparison must bound one input X_i by a number, or relate outputs "
                    "Y_i and numbers only",
                )
        missing = np.flatnonzero(~np.isfinite(lower) | ~np.isfinite(upper))
        if missing.size:
            raise VnnlibError(
                f"{self.source}: X_{missing[0]} has no lower or upper bound; assert "
                f"(>= X_{missing[0]} lo) and (<= X_{missing[0]} hi) for every input"
            )
        if np.any(lower > upper):
            return None
        return Disjunct(lower, upper, np.array(rows).reshape(len(rows), m), np.array(consts))


def _sum(terms: list[_Linear], signs: list[float]) -> _Linear:
    coefs: dict[tuple[str, int], float] = {}
    for t, s in zip(terms, signs, strict=True):
        for k, v in t.coefs.items():
            coefs[k] = coefs.get(k, 0.0) + s * v
    return _Linear(coefs, sum(s * t.const for t, s in zip(terms, signs, strict=True)))


def parse_vnnlib(text: str, source: str = "<vnnlib>") -> Property:
    """Parse VNN-LIB ``text`` (see the module docstring for the subset).

    Raises:
        VnnlibError: the text is outside the subset (``source`` and line named).
    """
    return _Parser(text, source).parse()


def read_vnnlib(path: str | Path) -> Property:
    """Parse the VNN-LIB file ``path``.

    Raises:
        VnnlibError: the file is outside the subset (file and line named).
        FileNotFoundError: there is no such file.
    """
    p = Path(path)
    return parse_vnnlib(p.read_text(encoding="utf-8"), str(p))
