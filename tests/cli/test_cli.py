"""The command line end to end: the built-in demo, attack files, listings and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from advkit import cli
from advkit.access import Access
from advkit.attacks.catalog import ATTACKS
from advkit.demo import DEMO_SUITE, FULL_SUITE
from advkit.evaluate import run as evaluate_run
from advkit.evaluate import suites
from conftest import require_shared


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One fresh cache for the module: the demo CNN is trained once, then loaded."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def test_list_names_every_attack_and_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in [*ATTACKS, "standard", "fast", "lenet5-pgd", "digits"]:
        assert f"  {name} " in out
    lines = out.splitlines()
    attacks = lines[1 : 1 + len(ATTACKS)]  # each attack's declared metadata, in columns
    for line, (name, entry) in zip(attacks, ATTACKS.items(), strict=True):
        assert line.startswith(f"  {name} ")
        access, norms, kind = line.split()[1:4]
        assert access == entry.info.access.name.lower().replace("_", "-")
        assert norms.split(",") == list(entry.info.norms)
        assert kind == ("minimal" if entry.info.minimal else "fixed-ε")
    assert "  standard   apgd-ce -> apgd-t -> fab-t -> square   [linf,l2,l1]" in lines
    assert "  standard   at l1: apgd-ce -> apgd-t -> fab-t -> square" in lines
    plus = "apgd-ce -> apgd-dlr -> fab -> square -> apgd-t -> fab-t   [linf,l2]"
    assert f"  plus       {plus}" in lines
    assert "  rand       apgd-ce -> apgd-dlr (EOT, 20 draws)   [linf,l2,l1]" in lines
    assert "  quick      apgd-ce -> apgd-t" in lines


def test_attack_choices_come_from_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    """`advkit transfer` offers the white-box attacks of the catalog, and the names of the
    catalog are the only ones `advkit attack` accepts."""
    base = ["transfer", "--models", "lenet5-natural,lenet5-pgd", "--eps", "0.1", "--attack"]
    for name, entry in ATTACKS.items():
        if entry.info.access != Access.WHITE_BOX:
            with pytest.raises(SystemExit):
                cli.main([*base, name])
            assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["attack", "--attack", "apgd"])
    assert "invalid choice: 'apgd'" in capsys.readouterr().err
    assert cli.main([*base, "pgd", "--kappa", "5", "--quiet"]) == 2
    assert "--kappa is the confidence of cw/ead" in capsys.readouterr().err


@pytest.fixture
def cheap_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's ``quick`` suite with 10-step attacks: the plumbing is what these tests
    check, and the real suite costs about 20 s of CPU time on the 599 digits."""
    monkeypatch.setitem(
        suites.SUITES,
        "quick",
        (("apgd-ce", {"steps": 10}), ("apgd-t", {"steps": 10, "target_classes": 3})),
    )


def test_the_demo_suite_is_the_white_box_half_of_standard() -> None:
    quick, standard = suites.get_suite(DEMO_SUITE), suites.get_suite(FULL_SUITE)
    assert [name for name, _ in quick] == ["apgd-ce", "apgd-t"]
    assert quick[0] == standard[0]  # APGD-CE as in the full suite
    assert quick[1][1] == replace(standard[1][1], target_classes=3)
    assert "square" in dict(standard)


@pytest.mark.usefixtures("cheap_quick")
def test_demo_end_to_end_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`advkit evaluate` with no model arguments: what `make demo` runs."""
    out = tmp_path / "demo.json"
    threads = torch.get_num_threads()
    assert cli.main(["evaluate", "--out", str(out), "--quiet"]) == 0
    assert torch.get_num_threads() == threads  # the demo's one thread is given back
    table = capsys.readouterr().out
    assert "robust accuracy" in table and "clean accuracy" in table
    res = json.loads(out.read_text())
    assert res["n"] == 599 and res["eps"] == cli.DEMO_EPS
    assert res["info"]["suite"] == DEMO_SUITE and f"suite: {DEMO_SUITE}" in table
    assert res["clean_accuracy"] > 0.85
    assert res["robust_accuracy"] < res["clean_accuracy"]
    accs = [c["robust_accuracy"] for c in res["curve"]]
    assert accs == sorted(accs, reverse=True) and len(accs) == 1 + len(cli.DEMO_CURVE)
    assert set(res["broken_by"]) <= {"clean", "apgd-ce", "apgd-t"}
    assert res["masking"] == []  # no false alarm on the undefended demo model
    # the output says which suite ran and how to run the full one
    full = tmp_path / "demo-standard.json"
    assert f"suite `{DEMO_SUITE}` (apgd-ce -> apgd-t) ran" in table
    assert f"advkit evaluate --suite standard --out {full}" in table

    # the same command again reads every batch back from the store: no attack runs
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished batch was recomputed")

    monkeypatch.setattr(evaluate_run, "_attack_batch", boom)
    out2 = tmp_path / "demo.json"
    assert cli.main(["evaluate", "--out", str(out2), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["robust_accuracy"] == res["robust_accuracy"]
    assert summary["curve"] == res["curve"]


@pytest.mark.usefixtures("cheap_quick")
def test_the_full_run_command_repeats_the_options_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "small.json"
    argv = ["evaluate", "--n", "40", "--eps-curve", "0.2", "--seed", "3", "--out", str(out)]
    assert cli.main([*argv, "--quiet"]) == 0
    want = "advkit evaluate --suite standard --n 40 --eps-curve 0.2 --seed 3 --out "
    assert want + str(tmp_path / "small-standard.json") in capsys.readouterr().out


def test_attack_writes_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "adv.npz"
    args = ["attack", "--attack", "bim", "--steps", "5", "--eps", "0.2", "--n", "40"]
    assert cli.main([*args, "--out", str(out), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    data = np.load(out)
    assert data["x_adv"].shape == (40, 1, 8, 8)
    assert np.abs(data["x_adv"] - data["x"]).max() <= 0.2 + 1e-6
    assert summary["success_rate"] == pytest.approx(float(data["success"].mean()))
    assert (data["gradient_calls"] <= 5).all()


def test_registry_model_attack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = require_shared()
    out = tmp_path / "adv.pt"
    args = ["attack", "--attack", "fgm", "--model", "lenet5-natural", "--eps", "0.3"]
    data_dir = str(shared / "datasets" / "mnist")
    assert cli.main([*args, "--data-dir", data_dir, "--n", "64", "--out", str(out)]) == 0
    assert "success_rate" in capsys.readouterr().out
    assert out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--model", "lenet5-natural"], "--eps is required"),
        (["evaluate", "--model", "no-such-model", "--eps", "0.1"], "unknown model"),
        (["attack", "--attack", "fgm", "--steps", "3"], "takes no option steps"),
        (["evaluate", "--eps", "-0.1"], "eps must be"),
    ],
)
def test_errors_are_clear(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / ("o.npz" if argv[0] == "attack" else "o.json")  # each command's own kind
    assert cli.main([*argv, "--quiet", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err


def test_changed_config_refuses_to_mix_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r.json")
    base = ["evaluate", "--out", out, "--quiet", "--n", "30", "--suite", "fast"]
    assert cli.main([*base, "--eps-curve", ""]) == 0
    assert cli.main([*base, "--eps-curve", "", "--seed", "1"]) == 2
    assert "--fresh" in capsys.readouterr().err
    assert cli.main([*base, "--eps-curve", "", "--seed", "1", "--fresh"]) == 0
