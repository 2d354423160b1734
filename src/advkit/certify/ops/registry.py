"""The one table of graph operators, and how traced calls find their operator.

:data:`OPERATORS` lists every operator class; :func:`advkit.certify.graph.trace` lowers a
module call to the first class whose ``modules`` contains the module's type (``isinstance``),
a function call to the class whose ``functions`` contains the function, and a tensor method
call to the class whose ``methods`` contains its name. Adding an operator is one class
(forward, interval, backward, MILP, and what it lowers) and one entry here.

Example:
    >>> import torch
    >>> from advkit.certify.ops import OPERATORS, operator_for
    >>> operator_for(OPERATORS, torch.nn.ReLU()).kind
    'relu'
"""

from __future__ import annotations

from torch import nn

from advkit.certify.ops.add import Add
from advkit.certify.ops.avgpool import AvgPool
from advkit.certify.ops.base import Operator
from advkit.certify.ops.constant_arithmetic import ConstantArithmetic
from advkit.certify.ops.conv import Conv
from advkit.certify.ops.input import Input
from advkit.certify.ops.linear import Linear
from advkit.certify.ops.maxpool import MaxPool
from advkit.certify.ops.relu import ReLU
from advkit.certify.ops.reshape import Reshape
from advkit.certify.ops.s_shaped import Sigmoid, Tanh
from advkit.certify.ops.scale_shift import BatchNorm, Normalization

__all__ = ["OPERATORS", "describe", "operator_for"]

OPERATORS: tuple[type[Operator], ...] = (
    Input,
    Linear,
    Conv,
    ReLU,
    Sigmoid,
    Tanh,
    MaxPool,
    Reshape,
    BatchNorm,
    AvgPool,
    Normalization,
    ConstantArithmetic,
    Add,
)
"""Every operator the certifiers support (the input node's included)."""


def operator_for(operators: tuple[type[Operator], ...], target: object) -> type[Operator] | None:
    """The operator class lowering ``target`` (a module, a function or a method name).

    Args:
        operators: the table to search, usually :data:`OPERATORS`.
        target: an ``nn.Module`` instance, a ``call_function`` target or a method name.
    """
    for op in operators:
        if isinstance(target, nn.Module):
            if isinstance(target, op.modules):
                return op
        elif isinstance(target, str):
            if target in op.methods:
                return op
        elif target in op.functions:
            return op
    return None


def describe(operators: tuple[type[Operator], ...]) -> str:
    """What ``operators`` support, for error messages."""
    return ", ".join(op.describes for op in operators if op.describes)
