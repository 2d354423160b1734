"""`advkit evaluate` keeps its evidence and `advkit verify RESULTS.json` re-checks it: the
model's fingerprint, the examples file's sha256, then every example independently."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import one_line_error
from safetensors import safe_open
from safetensors.torch import save_file

import linear_digits as linear_module
from advkit import cli
from advkit.data import load_dataset
from advkit.evaluate import suites
from advkit.evaluate.examples import examples_path
from linear_digits import FACTORY, linear_digits
from shared_data import shared_path

pytestmark = pytest.mark.usefixtures("single_thread")

ARGV = ["--model", FACTORY, "--dataset", "digits", "--n", "40", "--eps", "0.1"]


@pytest.fixture(autouse=True)
def cheap_fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ``fast`` suite with 10 steps: the evidence is what these tests check."""
    monkeypatch.setitem(suites.SUITES, "fast", (("apgd-ce", {"steps": 10}),))
    yield


def evaluate(out: Path, *more: str) -> None:
    """Run `advkit evaluate` on the linear digits model (curve 0.05, 0.1) into ``out``."""
    argv = ["evaluate", *ARGV, "--eps-curve", "0.05", "--suite", "fast", "--out", str(out)]
    assert cli.main([*argv, "--quiet", *more]) == 0


@pytest.fixture
def results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "run.json"
    evaluate(out)
    capsys.readouterr()
    return out


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def rewrite_example(results: Path, change: Any) -> int:
    """Apply ``change(x_adv, x0) -> x_adv`` to the first kept example, re-save the file
    with its metadata, and record its new sha256 in the JSON: only the independent
    re-check can notice. Returns the sample's index."""
    file = examples_path(results)
    with safe_open(str(file), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = f.metadata()
    i = int(tensors["index"][0])
    x0 = load_dataset("digits", split="test", limit=40)[0][i]
    tensors["x_adv"][0] = change(tensors["x_adv"][0], x0)
    save_file(tensors, str(file), metadata=meta)
    res = load(results)
    res["adversarial_examples"]["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    results.write_text(json.dumps(res))
    return i


def test_evaluate_keeps_the_evidence_and_verifies_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    evaluate(out)
    printed = capsys.readouterr().out
    res = load(out)
    kept = res["adversarial_examples"]
    file = tmp_path / "run.adv.safetensors"
    assert file.is_file()
    assert kept["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    broken = {
        r["index"]
        for rs in res["samples"].values()
        for r in rs
        if not r["robust"] and r["broken_by"] != "clean"
    }
    assert kept["count"] == len(broken) > 0
    assert res["schema_version"] == 1
    assert res["source"]["model"] == FACTORY and res["source"]["n"] == 40
    assert res["fingerprint"]["model"] and res["fingerprint"]["data"]
    assert "verified" in printed and "advkit verify" in printed


def test_verify_passes_on_an_honest_run(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", str(results)]) == 0
    table = capsys.readouterr().out
    assert "0.05" in table and "0.1" in table and "agree" in table


def test_a_tampered_file_is_refused(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = examples_path(results)
    data = bytearray(file.read_bytes())
    data[-1] ^= 1
    file.write_bytes(bytes(data))
    line = one_line_error(capsys, ["verify", str(results)])
    assert "sha256" in line and file.name in line


def test_an_example_moved_out_of_the_ball_is_caught(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    i = rewrite_example(results, lambda x, x0: x0 + 1.5 * (x - x0))
    line = one_line_error(capsys, ["verify", str(results)])
    assert f"sample {i}" in line and "outside the ε-ball" in line


def test_an_example_that_is_not_misclassified_is_caught(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    i = rewrite_example(results, lambda x, x0: x0)
    line = one_line_error(capsys, ["verify", str(results)])
    assert f"sample {i}" in line and "classifies it correctly" in line


def test_another_model_is_refused_by_its_fingerprint(
    results: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(linear_module, "linear_digits", lambda: linear_digits(ridge=5.0))
    line = one_line_error(capsys, ["verify", str(results)])
    assert "fingerprint" in line and "weights" in line and FACTORY in line


def test_another_schema_version_is_refused(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = load(results)
    results.write_text(json.dumps({**res, "schema_version": 99}))
    line = one_line_error(capsys, ["verify", str(results)])
    assert "schema_version 99" in line and "1" in line
    del res["schema_version"]
    results.write_text(json.dumps(res))
    assert "no schema_version" in one_line_error(capsys, ["verify", str(results)])


def test_save_adv_none_writes_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bare.json"
    evaluate(out, "--save-adv", "none")
    assert not (tmp_path / "bare.adv.safetensors").exists()
    assert load(out)["adversarial_examples"] is None
    assert "verified" not in capsys.readouterr().out
    assert "--save-adv none" in one_line_error(capsys, ["verify", str(out)])


def test_skip_verify_does_not_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evaluate(tmp_path / "run.json", "--skip-verify")
    assert "verified" not in capsys.readouterr().out
    assert (tmp_path / "run.adv.safetensors").is_file()


def test_verify_takes_results_json_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["verify", str(tmp_path / "model.onnx")])
    assert "RESULTS.json" in line


def test_a_shared_checkpoint_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mnist = shared_path("datasets/mnist/t10k-images-idx3-ubyte.gz").parent
    out = tmp_path / "kw.json"
    argv = ["evaluate", "--model", "kw-mnist-0.1", "--data-dir", str(mnist), "--n", "16"]
    assert cli.main([*argv, "--eps", "0.1", "--suite", "fast", "--out", str(out), "--quiet"]) == 0
    assert "verified" in capsys.readouterr().out
    assert cli.main(["verify", str(out)]) == 0
    assert load(out)["adversarial_examples"]["count"] > 0
