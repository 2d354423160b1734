"""``advkit evaluate --format``: a RobustBench model_info JSON and per-sample CSV beside the
results, equal to what the run found; bad combinations refused before any work."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import one_line_error, seed_demo_cache

import advkit
from advkit import cli
from advkit.cli import common
from advkit.evaluate.records import SampleRecord

EIGHT_255 = 8 / 255
"""An L∞ radius RobustBench writes as ``"8/255"``."""

MODEL_INFO = (
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "footnote",
)
"""The fields of RobustBench's model_info files for the L∞ and L2 leaderboards."""

UNKNOWN = ("link", "name", "authors", "additional_data", "number_forward_passes", "venue")
"""Fields advkit cannot know (the paper, the training data): left empty, never guessed."""


@pytest.fixture(autouse=True)
def _workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in tmp_path, with an instant demo model in a fresh cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path / "cache"))
    seed_demo_cache(tmp_path / "cache")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One small demo evaluation at ε = 8/255 and 0.2 written in all three formats."""
    folder = tmp_path_factory.mktemp("formats")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("ADVKIT_CACHE", str(folder / "cache"))
        seed_demo_cache(folder / "cache")
        argv = ["evaluate", "--n", "24", "--suite", "fast", "--eps", "8/255"]  # as users write it
        argv += ["--eps-curve", "0.2", "--format", "json,robustbench", "--format", "csv"]
        assert cli.main([*argv, "--out", "r/run.json", "--quiet"]) == 0
    return {
        "folder": folder / "r",
        "results": json.loads((folder / "r" / "run.json").read_text()),
        "robustbench": json.loads((folder / "r" / "run.robustbench.json").read_text()),
        "csv": (folder / "r" / "run.csv").read_text(),
    }


def test_the_formats_are_written_beside_the_results(run: dict[str, Any]) -> None:
    names = sorted(p.name for p in run["folder"].iterdir() if not p.name.endswith(".sqlite"))
    assert [n for n in names if not n.startswith("run.")] == []  # no temporary left
    assert {"run.json", "run.robustbench.json", "run.csv"} <= set(names)


def test_robustbench_model_info_holds_the_run_and_nothing_invented(run: dict[str, Any]) -> None:
    res, info = run["results"], run["robustbench"]
    assert info["schema_version"] == res["schema_version"] == 1  # advkit's, first
    assert list(info)[1 : len(MODEL_INFO) + 1] == list(MODEL_INFO)  # RobustBench's order
    for field in UNKNOWN:
        assert info[field] is None, field
    assert info["architecture"] is None and info["reported"] is None
    assert info["dataset"] == "digits"
    assert info["eps"] == "8/255"
    assert info["threat_model"] == "Linf"
    # percent with two decimals, as strings: RobustBench's own rounding
    assert info["clean_acc"] == str(round(100 * res["clean_accuracy"], 2))
    assert info["autoattack_acc"] == str(round(100 * res["robust_accuracy"], 2))
    own = info["advkit"]
    assert own["version"] == advkit.__version__
    assert own["suite"] == "fast" and own["attacks"] == res["suite"] == ["apgd-ce"]
    assert own["eps"] == res["eps"] == EIGHT_255 and own["n"] == res["n"] == 24
    assert own["clean_accuracy"] == res["clean_accuracy"]
    assert own["robust_accuracy"] == res["robust_accuracy"]
    assert own["threat"] == res["threat"] and own["info"] == res["info"]
    assert "advkit " + advkit.__version__ in info["footnote"]
    assert "fast (apgd-ce)" in info["footnote"] and "not AutoAttack" in info["footnote"]


def _cell(field: str, text: str) -> Any:
    """A CSV cell read back into the record's Python value."""
    if field == "robust":
        assert text in ("true", "false")
        return text == "true"
    if field in ("broken_by", "distance") and text == "":
        return None
    if field == "broken_by":
        return text
    return float(text) if field == "distance" else int(text)


def test_the_csv_is_exactly_the_per_sample_records(run: dict[str, Any]) -> None:
    rows = list(csv.reader(run["csv"].splitlines()))
    header, body = rows[0], rows[1:]
    samples = run["results"]["samples"]
    eps_keys = sorted(samples, key=float)
    per_eps = ["robust", "broken_by", "distance", "queries", "gradient_calls"]
    want = ["index", "label", "clean_pred"]
    want += [f"{field}@{key}" for key in eps_keys for field in per_eps]
    assert header == want
    assert len(body) == run["results"]["n"]
    for key in eps_keys:
        records = []
        for row in body:
            cells = dict(zip(header, row, strict=True))
            values = {f: _cell(f, cells[f]) for f in ("index", "label", "clean_pred")}
            values |= {f: _cell(f, cells[f"{f}@{key}"]) for f in per_eps}
            records.append(SampleRecord.from_dict(values))
        assert records == [SampleRecord.from_dict(r) for r in samples[key]]


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the model fails the test: a bad combination must be refused before."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(common, "demo_model", boom)


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--format", "robustbench", "--norm", "l1"], ["Linf and L2", "--norm linf"]),
        (["--format", "robustbench", "--norm", "l0"], ["Linf and L2", "--norm l2"]),
        (["--format", "robustbench", "--minimal", "deepfool"], ["--minimal", "suite"]),
        (["--format", "csv", "--minimal", "deepfool"], ["--minimal", "suite"]),
    ],
)
def test_bad_combinations_are_refused_before_any_work(
    argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = one_line_error(capsys, ["evaluate", *argv, "--out", "r.json", "--quiet"])
    for needle in needles:
        assert needle in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # nothing written


@pytest.mark.usefixtures("no_work")
def test_an_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["evaluate", "--format", "json,xlsx"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "'xlsx'" in err and "json, robustbench, csv" in err


@pytest.mark.parametrize("text", ["8/0", "eight", "1/"])
def test_a_radius_that_is_no_number_is_refused_by_the_parser(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["evaluate", "--n", "4", "--eps", text])
    assert stop.value.code == 2
    assert f"expected a number such as 0.3 or 8/255, got {text!r}" in capsys.readouterr().err
