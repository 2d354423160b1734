"""The contract of one graph operator: exact forward, intervals, linear relaxation, MILP.

Problem solved: every certifier walks the same traced graph, and each walk needs the same
four things from each operation. Following auto_LiRPA's ``Bound`` classes (Xu et al. 2020,
"Automatic perturbation analysis for scalable certified robustness and beyond"), each
operation is one :class:`Operator` object that provides all four together:

- :meth:`Operator.forward`: the exact output on a batch;
- :meth:`Operator.interval`: a box containing the output when the inputs lie in boxes
  (interval bound propagation, Gowal et al. 2018);
- :meth:`Operator.backward`: given coefficients ``a`` of a linear function of the output,
  a constant and coefficients of the inputs whose linear function is ≤ ⟨a, output⟩ on the
  input boxes (CROWN's backward step, Zhang et al. 2018);
- :meth:`Operator.milp`: the output as affine expressions over the variables of a mixed
  integer linear program, adding variables and rows where the operation is not affine
  (Tjeng et al. 2019).

The input node's operator receives the value fed to the graph as its one argument (the
batch, the input box, the input variables); every other operator receives the values of
its input nodes. Operators are listed in one table, :data:`advkit.certify.ops.OPERATORS`,
which :func:`advkit.certify.graph.trace` reads to lower torch modules and functions.

Example:
    >>> import torch
    >>> from advkit.certify.ops import ReLU
    >>> ReLU().interval((torch.tensor([-1.0, 2.0]), torch.tensor([3.0, 4.0])))
    (tensor([0., 2.]), tensor([3., 4.]))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from torch import Tensor, nn

if TYPE_CHECKING:
    from advkit.certify.input_set import InputSet
    from advkit.certify.milp import Program

__all__ = ["BackStep", "BackwardContext", "Box", "Call", "Expr", "NpBox", "Operator"]

Box = tuple[Tensor, Tensor]
"""Lower and upper bounds, each (N, *shape)."""

Expr = tuple[np.ndarray, np.ndarray]
"""Affine expressions (M, c) of a node's flat output over the MILP variables: M v + c."""

NpBox = tuple[np.ndarray, np.ndarray]
"""Flat float64 lower and upper bounds of one sample (MILP big-M constants)."""


@dataclass(frozen=True, eq=False)
class Call:
    """One traced operation to lower into an operator.

    Attributes:
        name: the module's qualified name or the traced node's name (for messages).
        args: example values (batch 1) of the operation's graph inputs.
        module: the called module, or None for a function or method call.
        target: the called function or method name (the module for module calls).
        params: the remaining positional arguments.
        kwargs: the keyword arguments.
    """

    name: str
    args: tuple[Tensor, ...]
    module: nn.Module | None = None
    target: object = None
    params: tuple[object, ...] = ()
    kwargs: dict[str, object] = field(default_factory=dict)

    @property
    def in_shape(self) -> tuple[int, ...]:
        """Per-sample shape of the first input."""
        return tuple(self.args[0].shape[1:])

    def evaluate(self) -> Tensor:
        """The traced function or method applied to the example values."""
        if isinstance(self.target, str):
            method = getattr(self.args[0], self.target)
            return method(*self.args[1:], *self.params, **self.kwargs)
        if not callable(self.target):
            raise TypeError(f"{self.name}: {self.target!r} is not a function or method")
        return self.target(*self.args, *self.params, **self.kwargs)


@dataclass(frozen=True, eq=False)
class BackwardContext:
    """What a backward step may use at one node.

    Attributes:
        inputs: the input set Δ(x0) (the input node minimizes over it).
        bounds: interval bounds of the node's input (nonlinear operators only).
        slopes: optimized lower slopes (α-CROWN), (N, K, *shape), or None.
    """

    inputs: InputSet
    bounds: Box | None = None
    slopes: Tensor | None = None

    def require_bounds(self, who: str) -> Box:
        """The node's input bounds; raises if the caller gave none."""
        if self.bounds is None:
            raise ValueError(f"{who} needs interval bounds of its input for a backward step")
        return self.bounds


@dataclass(frozen=True, eq=False)
class BackStep:
    """One backward step: ⟨a, output⟩ ≥ constant + Σ_j ⟨coefficients_j, input_j⟩.

    Attributes:
        constant: (M, K) constant part, or None when it is zero.
        coefficients: one coefficient tensor (M, K, *input shape) per input node.
    """

    constant: Tensor | None
    coefficients: tuple[Tensor, ...]


class Operator(ABC):
    """One operation of a traced graph.

    Class attributes:
        kind: the family name ("input", "affine", "relu", "maxpool", "add").
        arity: number of graph inputs (the first ``arity`` arguments of a traced call).
        nonlinear: the relaxation needs interval bounds of the input (ReLU, max pooling).
        per_sample: the backward step needs per-sample coefficients (M = N); affine
            operators accept one copy of a specification shared by all samples (M = 1).
        modules: the torch module types lowered to this operator.
        functions: the torch functions (``call_function`` targets) lowered to it.
        methods: the tensor method names (``call_method`` targets) lowered to it.
        describes: what the operator supports, for error messages.
    """

    kind: ClassVar[str]
    arity: ClassVar[int] = 1
    nonlinear: ClassVar[bool] = False
    per_sample: ClassVar[bool] = True
    modules: ClassVar[tuple[type[nn.Module], ...]] = ()
    functions: ClassVar[tuple[object, ...]] = ()
    methods: ClassVar[tuple[str, ...]] = ()
    describes: ClassVar[str] = ""

    @classmethod
    def lower(cls, call: Call) -> Operator:
        """The operator of a traced call; raises ``TypeError`` on unsupported options."""
        return cls()

    @abstractmethod
    def forward(self, *xs: Tensor) -> Tensor:
        """The exact output on a batch."""

    @abstractmethod
    def interval(self, *boxes: Box) -> Box:
        """A box containing the output for inputs in ``boxes``."""

    @abstractmethod
    def backward(self, a: Tensor, ctx: BackwardContext) -> BackStep:
        """A linear lower bound of ⟨a, output⟩ in terms of the inputs, a (M, K, *shape)."""

    @abstractmethod
    def milp(self, program: Program, args: list[Expr], bounds: NpBox | None) -> Expr:
        """The output as expressions over ``program``'s variables, adding rows as needed.

        Args:
            program: the program being built (variables and rows are appended to it).
            args: the expressions of the inputs.
            bounds: flat float64 bounds of the input (nonlinear operators; else None).
        """

    def refine(self, box: Box) -> Tensor | None:
        """Input neurons whose bounds CROWN should tighten by a backward pass, or None.

        Default: none (the interval of the input is used as it is).
        """
        return None

    def lower_slopes(self, box: Box) -> Tensor | None:
        """Initial optimizable lower slopes (α-CROWN) for input bounds ``box``, or None
        when the relaxation has none (the default)."""
        return None
