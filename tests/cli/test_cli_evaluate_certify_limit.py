"""``advkit evaluate --certify mip|bab --certify-time-limit``: the limit reaches the
certifier and is recorded; with another certifier it is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advkit import cli
from linear_digits import FACTORY

ARGV = ["evaluate", "--model", FACTORY, "--dataset", "digits", "--n", "8", "--eps", "0.02"]
ARGV += ["--suite", "fast", "--quiet", "--out", "e.json", "--save-adv", "none"]


def test_the_time_limit_reaches_branch_and_bound_and_the_sandwich_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main([*ARGV, "--certify", "bab", "--certify-time-limit", "2.5"]) == 0
    sandwich = json.loads(Path("e.json").read_text())["sandwich"]
    assert (sandwich["method"], sandwich["time_limit"]) == ("bab", 2.5)
    for row in sandwich["rows"]:  # a linear model: every sample decided
        assert row["certified"] + row["attacked"] == 8 and row["unknown"] == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--certify", "crown", "--certify-time-limit", "2"], "applies to --certify mip"),
        (["--certify", "mip", "--certify-time-limit", "0"], "must be > 0"),
    ],
)
def test_a_time_limit_without_a_timed_certifier_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main([*ARGV, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not Path("e.json").exists()
