"""Helpers of the command-line tests: an instant demo model and the one-line error check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advkit import cli
from advkit.demo import demo_cache_path, digits_cnn


def seed_demo_cache(cache: Path) -> Path:
    """Put an untrained demo CNN in ``cache``: the CLI loads it instead of training one."""
    path = demo_cache_path(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(digits_cnn().state_dict(), path)
    return path


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``advkit argv``; check exit status 2 and a single error line; return that line."""
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("advkit: error: "), err
    return lines[0]
