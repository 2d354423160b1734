"""Graph operators of the certifiers: one class per operation, listed in :data:`OPERATORS`.

Each operator provides the exact forward, interval propagation, a backward linear
relaxation and a MILP encoding (see :class:`Operator`); the certifiers
(:mod:`advkit.certify.bounds`, :mod:`advkit.certify.milp`) only walk the graph and call them.
"""

from advkit.certify.ops.add import Add
from advkit.certify.ops.affine import AffineOp
from advkit.certify.ops.avgpool import AvgPool
from advkit.certify.ops.base import BackStep, BackwardContext, Box, Call, Expr, NpBox, Operator
from advkit.certify.ops.constant_arithmetic import ConstantArithmetic
from advkit.certify.ops.conv import Conv
from advkit.certify.ops.input import Input
from advkit.certify.ops.linear import Linear
from advkit.certify.ops.maxpool import MaxPool
from advkit.certify.ops.registry import OPERATORS, describe, operator_for
from advkit.certify.ops.relu import ReLU
from advkit.certify.ops.reshape import Reshape
from advkit.certify.ops.s_shaped import Sigmoid, SShaped, Tanh
from advkit.certify.ops.scale_shift import BatchNorm, Normalization, ScaleShift

__all__ = [
    "OPERATORS",
    "Add",
    "AffineOp",
    "AvgPool",
    "BackStep",
    "BackwardContext",
    "BatchNorm",
    "Box",
    "Call",
    "ConstantArithmetic",
    "Conv",
    "Expr",
    "Input",
    "Linear",
    "MaxPool",
    "Normalization",
    "NpBox",
    "Operator",
    "ReLU",
    "Reshape",
    "SShaped",
    "ScaleShift",
    "Sigmoid",
    "Tanh",
    "describe",
    "operator_for",
]
