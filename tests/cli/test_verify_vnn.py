"""`advkit verify MODEL.onnx PROPERTY.vnnlib` answers in VNN-COMP's format and
`advkit verify --instances instances.csv` writes a results CSV; bad input is one line
naming what is wrong."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import one_line_error
from torch import nn

from advkit import cli
from advkit.certify.vnn_export import export_onnx as export
from vnn_cases import counterexample, onnx_outputs

HEADER = "".join(f"(declare-const {v} Real)\n" for v in ("X_0", "X_1", "Y_0", "Y_1")) + (
    "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"
)  # lines 1-8


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """net.onnx (y0 = relu(x0 + x1), y1 = relu(x0 − x1)), a violated, a safe and a
    malformed property, and an instances.csv of the first two."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
        net[0].bias.zero_()
    export(net, tmp_path / "net.onnx", (2,))
    (tmp_path / "props").mkdir()
    (tmp_path / "props" / "violated.vnnlib").write_text(HEADER + "(assert (>= Y_0 1.5))\n")
    (tmp_path / "props" / "safe.vnnlib").write_text(HEADER + "(assert (>= Y_0 2.5))\n")
    (tmp_path / "bad.vnnlib").write_text(HEADER + "(assert (>= Y_0 1.5)\n")
    (tmp_path / "instances.csv").write_text(
        "net.onnx,props/violated.vnnlib,30\nnet.onnx,props/safe.vnnlib,30\n"
    )
    return tmp_path


def test_a_violated_property_prints_sat_and_a_counterexample(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = folder / "result.txt"
    argv = ["verify", str(folder / "net.onnx"), str(folder / "props" / "violated.vnnlib")]
    assert cli.main([*argv, "--timeout", "30", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("sat\n((X_0 ") and out.read_text() == printed
    x, y = counterexample(printed)
    np.testing.assert_allclose(onnx_outputs(folder / "net.onnx", x, (2,)), y, atol=1e-6)
    assert y[0] >= 1.5


def test_a_safe_property_prints_unsat(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", str(folder / "props" / "safe.vnnlib"), str(folder / "net.onnx")]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == "unsat\n"


def test_instances_csv_runs_into_a_results_csv(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = folder / "results.csv"
    assert (
        cli.main(["verify", "--instances", str(folder / "instances.csv"), "--out", str(out)]) == 0
    )
    assert "2 instances: sat 1, unsat 1" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    assert [(Path(r["vnnlib"]).name, r["result"]) for r in rows] == [
        ("violated.vnnlib", "sat"),
        ("safe.vnnlib", "unsat"),
    ]
    assert all(float(r["seconds"]) > 0 and r["timeout"] == "30" for r in rows)
    assert (folder / "results.1.counterexample").read_text().startswith("sat\n")


def test_a_malformed_vnnlib_line_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["verify", str(folder / "net.onnx"), str(folder / "bad.vnnlib")])
    assert "bad.vnnlib:9: this '(' is never closed" in line


def test_a_property_of_another_input_size_is_refused(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three = export(nn.Sequential(nn.Linear(3, 2)), folder / "three.onnx", (3,))
    line = one_line_error(capsys, ["verify", str(three), str(folder / "props" / "safe.vnnlib")])
    assert "declares 2 inputs" in line and "takes 3 values" in line


def test_an_unsupported_onnx_operator_is_named(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    erf = nn.Sequential(nn.Linear(2, 2), nn.GELU())  # exported as Erf
    path = export(erf, folder / "gelu.onnx", (2,))
    line = one_line_error(capsys, ["verify", str(path), str(folder / "props" / "safe.vnnlib")])
    assert "unsupported ONNX operator(s): Erf" in line


@pytest.mark.parametrize(
    "argv",
    [["a.onnx"], ["a.onnx", "b.onnx"], ["a.txt", "b.vnnlib"], ["--instances", "i.csv", "a.json"]],
)
def test_other_arguments_get_the_forms_of_the_command(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, ["verify", *argv])
    assert "RESULTS.json" in line and "MODEL.onnx PROPERTY.vnnlib" in line and "--instances" in line


def test_a_malformed_instances_line_is_named(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "instances.csv").write_text("net.onnx,props/safe.vnnlib,30\nnet.onnx,60\n")
    line = one_line_error(capsys, ["verify", "--instances", str(folder / "instances.csv")])
    assert "instances.csv:2: expected 'model.onnx,property.vnnlib,timeout seconds'" in line


def test_an_instance_that_cannot_load_is_an_error_row_and_the_run_goes_on(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(nn.Sequential(nn.Linear(2, 2), nn.GELU()), folder / "gelu.onnx", (2,))
    (folder / "instances.csv").write_text(
        "gelu.onnx,props/safe.vnnlib,30\nnet.onnx,props/safe.vnnlib,30\n"
    )
    out = folder / "results.csv"
    assert (
        cli.main(["verify", "--instances", str(folder / "instances.csv"), "--out", str(out)]) == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["result"] for r in rows] == ["error", "unsat"]
    assert "Erf" in rows[0]["detail"]
