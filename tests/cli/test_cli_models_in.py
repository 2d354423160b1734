"""Models in through the command line: ONNX files, safetensors state dicts, RobustBench
names, and the declared input (--mean, --std, --layout), with one-line errors."""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import onnx
import pytest
import torch
from cli_support import one_line_error
from onnx import helper
from safetensors.torch import save_file

from advkit import cli
from advkit.demo import digits_cnn

FAST = ["--dataset", "digits", "--eps", "0.1", "--suite", "fast", "--n", "8", "--eps-curve", ""]


@pytest.fixture
def digits_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The digits CNN (random weights) as an ONNX file and as a safetensors state dict."""
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = digits_cnn().eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, "cnn.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated
        torch.onnx.export(
            model,
            (torch.rand(1, 1, 8, 8),),
            "cnn.onnx",
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
        )
    return tmp_path / "cnn.onnx", tmp_path / "cnn.safetensors"


def _evaluate(argv: list[str], out: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert cli.main(["evaluate", *argv, *FAST, "--out", out, "--quiet"]) == 0, capsys.readouterr()
    return dict(json.loads(Path(out).read_text()))


def test_onnx_and_safetensors_evaluate_like_the_torch_model(
    digits_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_path, weights = digits_files
    from_onnx = _evaluate(["--model", str(onnx_path)], "onnx.json", capsys)
    torch_model = ["--model", "advkit.demo:digits_cnn", "--checkpoint", str(weights)]
    from_weights = _evaluate(torch_model, "weights.json", capsys)
    assert from_onnx["n"] == 8
    assert from_onnx["info"]["model"] == str(onnx_path)  # type: ignore[index]
    for key in ("clean_accuracy", "robust_accuracy"):
        assert from_onnx[key] == from_weights[key]


def test_declared_normalization_is_applied_and_recorded(
    digits_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_path, _ = digits_files
    result = _evaluate(
        ["--model", str(onnx_path), "--mean", "0.5", "--std", "0.5"], "n.json", capsys
    )
    assert result["info"]["inputs"] == {"layout": "nchw", "mean": [0.5], "std": [0.5]}  # type: ignore[index]
    assert result["source"]["mean"] == [0.5] and result["source"]["std"] == [0.5]  # type: ignore[index]
    # advkit verify loads the ONNX file again behind the same normalization: the
    # fingerprint (weights, layers, outputs on the probe batch) matches
    capsys.readouterr()
    assert cli.main(["verify", "n.json"]) == 0, capsys.readouterr()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--mean", "0.1,0.2,0.3", "--std", "0.2,0.2,0.2"], r"--mean has 3 values.*1 channels"),
        (["--mean", "0.1"], "--mean and --std go together"),
        (["--layout", "nhwc"], r"ONNX input.*\(1, 8, 8\).*--layout nchw"),
    ],
    ids=["mean-length", "mean-alone", "wrong-layout"],
)
def test_input_declarations_are_checked(
    digits_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    match: str,
) -> None:
    onnx_path, _ = digits_files
    line = one_line_error(capsys, ["evaluate", "--model", str(onnx_path), *extra, *FAST])
    assert re.search(match, line), line


def test_registry_models_declare_their_own_input(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--model", "lenet5-pgd", "--mean", "0.5", "--std", "0.5", "--eps", "0.3"]
    assert "registry model lenet5-pgd declares its own input" in one_line_error(capsys, argv)


def test_unsupported_onnx_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["y"], name="erf")],
        "g",
        [helper.make_tensor_value_info("x", 1, [None, 1, 8, 8])],
        [helper.make_tensor_value_info("y", 1, [None, 1, 8, 8])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "erf.onnx")
    line = one_line_error(capsys, ["evaluate", "--model", "erf.onnx", *FAST])
    assert "unsupported ONNX operator(s): Erf (node 'erf')" in line


def test_robustbench_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", "--model", "robustbench:Carmon2019Unlabeled", "--eps", "0.03", "--n", "4"]
    assert "RobustBench ranks models for linf, l2" in one_line_error(
        capsys, [*argv, "--norm", "l1"]
    )
    monkeypatch.setitem(sys.modules, "robustbench", None)
    assert "pip install 'advkit[robustbench]'" in one_line_error(capsys, argv)
