"""A rank's process group follows the command's ``--device`` (parsed as a torch.device)."""

from __future__ import annotations

import argparse

import pytest
import torch

import advkit.distributed as distributed
from advkit.cli.workers import rank_session


@pytest.mark.parametrize(
    ("device", "backend"),
    [(torch.device("cpu"), "gloo"), (None, "cuda:nccl" if torch.cuda.is_available() else "gloo")],
)
def test_the_backend_follows_the_parsed_device(
    monkeypatch: pytest.MonkeyPatch, device: torch.device | None, backend: str
) -> None:
    joined: list[str] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda b, timeout: joined.append(b))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: None)
    with rank_session(argparse.Namespace(device=device)):
        pass
    assert len(joined) == 1 and backend in joined[0]
