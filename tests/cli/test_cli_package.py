"""advkit as users install it: one version, an MIT LICENSE, optional extras, and a wheel
that installs in a fresh venv and runs ``advkit evaluate`` (the slow test)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from cli_support import one_line_error, seed_demo_cache

import advkit
from advkit import cli
from advkit.cli import common
from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_advkit_version_prints_the_one_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"advkit {advkit.__version__}"
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "advkit.version.VERSION"}


def test_the_license_is_mit_and_shipped() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "advkit contributors" in text


def _names(requirements: list[str]) -> set[str]:
    """The distribution names of requirement strings (``"torch>=2.1,<3"`` -> ``"torch"``)."""
    return {re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0] for req in requirements}


def test_heavy_optional_parts_are_extras() -> None:
    project = PYPROJECT["project"]
    extras = {k: _names(v) for k, v in project["optional-dependencies"].items()}
    assert "torch>=2.1,<3" in project["dependencies"]
    assert "matplotlib" not in _names(project["dependencies"])
    assert extras["plots"] == {"matplotlib"}
    assert extras["onnx"] == {"onnx", "onnxruntime"}
    assert extras["robustbench"] == {"robustbench"}
    assert {"matplotlib", "setuptools"} <= extras["dev"]  # the tests draw and build wheels


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib as if not installed: its import raises ImportError."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.mark.usefixtures("no_matplotlib")
@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--certify", "ibp", "--out", "r.json"],
        ["transfer", "--models", "lenet5-natural,lenet5-pgd", "--eps", "0.1"],
        ["evaluate", "--report", "--out", "r.json"],
        ["report", "r.json"],
    ],
)
def test_a_plot_without_matplotlib_is_refused_before_any_work(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the plot's requirements were checked")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common, "demo_model", boom)
    monkeypatch.setattr(cli.transfer, "load_model", boom)
    line = one_line_error(capsys, [*argv, "--quiet"])
    assert "matplotlib" in line and "pip install 'advkit[plots]'" in line
    assert list(tmp_path.iterdir()) == []


def _run(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    """Run a command; its stdout, or a failure showing both streams."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _build_wheel(tmp_path: Path, env: dict[str, str]) -> Path:
    """The wheel of a clean copy of the project (nothing written into the source tree)."""
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=skip)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    dist = tmp_path / "dist"
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, source], source, env)
    (wheel,) = dist.glob("advkit-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A new venv with the wheel installed and this environment's packages (torch...) visible."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = _run([python, "-c", purelib], tmp_path, env).strip()
    # the dependencies come from here (no download); .pth files of this folder, such as
    # advkit's editable install, are not read from a folder a .pth file adds
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python]
    _run([*pip, "install", "--no-deps", "--no-index", wheel], tmp_path, env)
    return venv


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_evaluates(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["ADVKIT_CACHE"] = str(tmp_path / "cache")
    seed_demo_cache(tmp_path / "cache")
    wheel = _build_wheel(tmp_path, env)
    names = zipfile.ZipFile(wheel).namelist()
    assert "advkit/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    venv = _fresh_venv(tmp_path, wheel, env)
    work = tmp_path / "work"
    work.mkdir()
    show = "import advkit, importlib.metadata as m; print(advkit.__file__, m.version('advkit'))"
    where, version = _run([venv / "bin" / "python", "-c", show], work, env).split()
    assert Path(where).is_relative_to(venv), where  # the wheel, not the source tree
    assert version == advkit.__version__
    advkit_cmd = venv / "bin" / "advkit"
    assert _run([advkit_cmd, "--version"], work, env).strip() == f"advkit {version}"
    argv = [advkit_cmd, "evaluate", "--n", "20", "--suite", "fast", "--out", "r.json"]
    _run([*argv, "--quiet"], work, env)
    res = json.loads((work / "r.json").read_text())
    assert res["n"] == 20 and res["suite"] == ["apgd-ce"] and res["info"]["suite"] == "fast"
    assert 0 <= res["robust_accuracy"] <= res["clean_accuracy"] <= 1
