"""Every JSON advkit writes carries the results schema version, and the one reader of
results refuses another version (or none) with a message saying what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advkit.cli.json_text import to_json, write_json
from advkit.schema import SCHEMA_VERSION, SchemaMismatch, read_results


def test_written_json_carries_the_version_first(tmp_path: Path) -> None:
    path = write_json(tmp_path / "r.json", {"eps": float("inf")})
    text = json.loads(path.read_text())
    assert list(text) == ["schema_version", "eps"] and text["schema_version"] == SCHEMA_VERSION
    assert json.loads(to_json({"a": 1}))["schema_version"] == SCHEMA_VERSION


def test_the_reader_gives_back_what_was_written(tmp_path: Path) -> None:
    path = write_json(tmp_path / "r.json", {"n": 3})
    assert read_results(path) == {"schema_version": SCHEMA_VERSION, "n": 3}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"schema_version": SCHEMA_VERSION + 1, "n": 3}, f"schema_version {SCHEMA_VERSION + 1}"),
        ({"n": 3}, "no schema_version"),
        ([1, 2], "not an advkit results file"),
    ],
)
def test_the_reader_refuses_other_versions(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SchemaMismatch, match=message) as err:
        read_results(path)
    assert str(path) in str(err.value)


def test_the_reader_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(SchemaMismatch, match="not JSON"):
        read_results(path)
