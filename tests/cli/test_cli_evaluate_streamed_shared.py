"""`advkit evaluate` on the shared MNIST files and a shared checkpoint, read a batch at a
time: the same records as evaluating the whole tensors, and evidence that re-verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import advkit
from advkit import cli
from advkit.data import load_dataset
from advkit.models import load_model
from shared_data import SHARED_DATA, requires_shared_data

pytestmark = [requires_shared_data, pytest.mark.usefixtures("single_thread")]

N, EPS = 32, 0.1


def test_streamed_cli_run_equals_the_in_memory_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SHARED_DATA is not None
    mnist = SHARED_DATA / "datasets" / "mnist"
    monkeypatch.setenv("ADVKIT_SHARED_DATA", str(SHARED_DATA))  # found from any folder
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", "--model", "lenet5-natural", "--dataset", "mnist", "--data-dir"]
    argv += [str(mnist), "--n", str(N), "--eps", str(EPS), "--suite", "fast"]
    argv += ["--batch-size", "8", "--device", "cpu", "--quiet", "--out", "run.json"]
    assert cli.main(argv) == 0
    results = json.loads(Path("run.json").read_text())
    x, y = load_dataset("mnist", data_dir=mnist, limit=N)
    whole = advkit.evaluate(
        load_model("lenet5-natural"),
        (x, y),
        advkit.Linf(EPS),
        "fast",
        batch_size=8,
        progress=False,
    )
    assert results["samples"] == whole.to_dict()["samples"]
    assert 0 < results["robust_accuracy"] < results["clean_accuracy"]
    assert results["adversarial_examples"]["count"] == len(whole.examples) > 0
    assert cli.main(["verify", "run.json"]) == 0  # loads the data again, batch by batch
