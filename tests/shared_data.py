"""Locating the optional shared folder of real datasets and pretrained checkpoints.

Tests that need real data import from here and are skipped, with the reason, when the
folder is absent. It is found through ``$ADVKIT_SHARED_DATA`` or at ``../shared/data``
relative to the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """Return the shared data folder, or ``None`` when it is not available."""
    env = os.environ.get("ADVKIT_SHARED_DATA")
    candidate = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
    return candidate if (candidate / "README.md").is_file() else None


SHARED_DATA = find_shared_data()

requires_shared_data = pytest.mark.skipif(
    SHARED_DATA is None,
    reason="shared data folder absent: set ADVKIT_SHARED_DATA or provide ../shared/data "
    "relative to the repository root",
)


def shared_path(relative: str) -> Path:
    """Path of a file in the shared folder; skips the test when it is missing."""
    if SHARED_DATA is None or not (SHARED_DATA / relative).is_file():
        pytest.skip(f"shared data file {relative} not available")
    return SHARED_DATA / relative


def cifar10_first100() -> tuple[torch.Tensor, torch.Tensor]:
    """The first 100 CIFAR-10 test images from ``first100_test.csv``.

    Returns:
        x float32 (100, 3, 32, 32) in [0, 1] and y int64 (100,).
    """
    path = shared_path("datasets/cifar10-sample/first100_test.csv")
    rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    x = torch.from_numpy(rows[:, 1:].reshape(-1, 32, 32, 3)).permute(0, 3, 1, 2)
    return x.float().div(255.0).contiguous(), torch.from_numpy(rows[:, 0].astype(np.int64))
