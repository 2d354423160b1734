"""`advkit attack --report [--cases]` and `advkit evaluate --minimal` on the built-in demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from advkit import cli

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One fresh cache for the module: the demo CNN is trained once, then loaded."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def test_attack_report_and_target_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "adv.npz"
    argv = ["attack", "--attack", "deepfool", "--norm", "l2", "--eps", "inf", "--n", "8"]
    assert cli.main([*argv, "--report", "--cases", "--out", str(out), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    saved = np.load(out)
    ok = saved["success"]
    l2 = np.linalg.norm((saved["x_adv"] - saved["x"]).reshape(8, -1), axis=1)
    assert summary["distortion"]["success_rate"] == pytest.approx(ok.mean())
    assert summary["distortion"]["mean"]["l2"] == pytest.approx(l2[ok].mean(), rel=1e-5)
    cases = summary["target_cases"]
    assert cases["best"]["success_rate"] >= cases["average"]["success_rate"]
    assert cases["average"]["success_rate"] >= cases["worst"]["success_rate"]
    assert cases["best"]["mean"]["l2"] <= cases["worst"]["mean"]["l2"]


def test_cases_need_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["attack", "--attack", "fgm", "--n", "4", "--cases", "--quiet"]
    assert cli.main([*argv, "--out", str(tmp_path / "a.npz")]) != 0
    assert "add --report" in capsys.readouterr().err


def test_evaluate_minimal_curve_is_read_off_the_distances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "min.json"
    argv = ["evaluate", "--minimal", "deepfool", "--norm", "linf", "--eps", "inf"]
    assert (
        cli.main([*argv, "--eps-curve", "0.05,0.1,0.3", "--n", "20", "--out", str(out), "--quiet"])
        == 0
    )
    assert "robust accuracy ≤" in capsys.readouterr().out
    res = json.loads(out.read_text())
    dist, ok = np.array(res["minimal_distance"]), np.array(res["success"])
    accs = [c["robust_accuracy"] for c in res["curve"]]
    assert accs == sorted(accs, reverse=True) and accs[0] > accs[-1]
    for c in res["curve"]:
        assert c["robust_accuracy"] == pytest.approx(1 - (ok & (dist <= c["eps"] + 1e-6)).mean())
    assert res["clean_accuracy"] >= accs[0] - 1e-6


def test_jsma_under_l0_reports_changed_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "jsma.npz"
    argv = ["attack", "--attack", "jsma", "--norm", "l0", "--eps", "inf", "--n", "6"]
    assert cli.main([*argv, "--report", "--cases", "--out", str(out), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    saved = np.load(out)
    ok = saved["success"]
    l0 = ((saved["x_adv"] - saved["x"]).reshape(6, -1) != 0).sum(axis=1)
    assert np.array_equal(saved["distance"], l0)
    assert summary["distortion"]["mean"]["l0"] == pytest.approx(l0[ok].mean())
    assert summary["threat"].startswith("l0 eps=inf")
    cases = summary["target_cases"]
    assert cases["best"]["mean"]["l0"] <= cases["worst"]["mean"]["l0"]
