"""The VNN-LIB parser: boxes and disjunctions of linear output rows, strict errors that
name the line, and properties whose sizes do not match the network refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from advkit.certify.vnn import Verifier
from advkit.certify.vnn_network import VnnNetwork
from advkit.certify.vnnlib import VnnlibError, parse_vnnlib

HEADER = """; two inputs, three outputs
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(declare-const Y_2 Real)
"""  # lines 1-6

BOX = "(assert (<= X_0 0.5))\n(assert (>= X_0 -0.5))\n(assert (<= X_1 1))\n(assert (>= X_1 0))\n"


def test_boxes_and_a_disjunction_of_conjunctions_become_disjuncts() -> None:
    text = HEADER + BOX + "(assert (or (and (>= Y_1 Y_0) (<= Y_2 3)) (and (> Y_2 Y_0))))\n"
    prop = parse_vnnlib(text)
    assert (prop.num_inputs, prop.num_outputs, len(prop.disjuncts)) == (2, 3, 2)
    first, second = prop.disjuncts
    np.testing.assert_array_equal(first.lower, [-0.5, 0.0])
    np.testing.assert_array_equal(first.upper, [0.5, 1.0])
    # violation rows c·y + d <= 0: Y_0 - Y_1 <= 0 and Y_2 - 3 <= 0; then Y_0 - Y_2 <= 0
    np.testing.assert_array_equal(first.c, [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(first.d, [0.0, -3.0])
    np.testing.assert_array_equal(second.c, [[1.0, 0.0, -1.0]])
    assert first.violated(np.array([0.0, 1.0, 2.0])) and not first.violated(np.ones(3) * 4)


def test_input_boxes_inside_disjuncts_and_linear_terms() -> None:
    text = HEADER + (
        "(assert (<= X_1 1))\n(assert (>= X_1 0))\n"
        "(assert (or (and (>= X_0 0) (<= X_0 0.25) (<= (+ Y_0 (* 2 Y_1) -1) (- Y_2 0.5)))\n"
        "            (and (>= X_0 0.75) (<= (* 2 X_0) 2) (>= (- Y_1) 1e-1))))\n"
    )
    first, second = parse_vnnlib(text).disjuncts
    np.testing.assert_array_equal(first.upper, [0.25, 1.0])
    np.testing.assert_array_equal(first.c, [[1.0, 2.0, -1.0]])
    np.testing.assert_allclose(first.d, [-0.5])
    np.testing.assert_array_equal([second.lower[0], second.upper[0]], [0.75, 1.0])
    np.testing.assert_allclose([*second.c[0], second.d[0]], [0.0, 1.0, 0.0, 0.1])


def test_a_disjunct_with_an_empty_box_has_no_counterexample() -> None:
    text = HEADER + BOX + "(assert (or (and (>= X_0 0.9) (>= Y_0 0)) (and (>= Y_1 0))))\n"
    (only,) = parse_vnnlib(text).disjuncts
    np.testing.assert_array_equal(only.c, [[0.0, -1.0, 0.0]])


@pytest.mark.parametrize(
    ("tail", "line", "what"),
    [
        ("(assert (<= Y_0 Y_1)))\n", 11, "unbalanced"),
        ("(assert (<= Y_0 Y_1)\n", 11, "never closed"),
        ("(assert (=> Y_0 Y_1))\n", 11, "unsupported formula"),
        ("(assert (<= Y_0 X_1))\n", 11, "one input X_i"),
        ("(assert (<= Y_7 0))\n", 11, "Y_7 is used before its declare-const"),
        ("\n(assert (<= (* Y_0 Y_1) 0))\n", 12, "linear terms only"),
        ("(assert (<= Y_0 abc))\n", 11, "unknown term"),
        ("(declare-const Z_0 Real)\n", 11, "declare-const X_i Real"),
        ("(check-sat)\n", 11, "unsupported command"),
    ],
)
def test_a_malformed_line_is_named_by_its_number(tail: str, line: int, what: str) -> None:
    with pytest.raises(VnnlibError, match=rf"^p\.vnnlib:{line}: .*{what}"):
        parse_vnnlib(HEADER + BOX + tail, "p.vnnlib")


def test_an_unbounded_input_is_named() -> None:
    with pytest.raises(VnnlibError, match=r"X_1 has no lower or upper bound"):
        parse_vnnlib(HEADER + "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))")


def test_a_property_of_another_input_or_output_size_is_refused() -> None:
    net = VnnNetwork.of(nn.Sequential(nn.Linear(3, 3)).eval(), (3,))
    prop = parse_vnnlib(HEADER + BOX + "(assert (<= Y_0 Y_1))", "p.vnnlib")
    with pytest.raises(ValueError, match=r"p\.vnnlib declares 2 inputs .* takes 3 values"):
        Verifier().verify(net, prop, timeout=5)
    two_outputs = VnnNetwork.of(nn.Sequential(nn.Linear(2, 2)).eval(), (2,))
    with pytest.raises(ValueError, match=r"declares 3 outputs .* returns 2"):
        Verifier().verify(two_outputs, prop, timeout=5)
    with torch.no_grad():
        assert two_outputs.outputs(torch.zeros(1, 2)).shape == (1, 2)
