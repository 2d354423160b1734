"""``advkit.distributed`` in one process: the backend per device, no group outside a
launcher, and a clear error for a rank without a GPU of its own."""

from __future__ import annotations

import pytest
import torch

from advkit.distributed import backend_for, from_main, gather_batches, process_group, world


def test_gloo_on_the_cpu_and_nccl_on_cuda() -> None:
    assert backend_for(None) == backend_for("cpu") == "gloo"
    assert backend_for("cuda:1") == "cpu:gloo,cuda:nccl"  # Python objects still go by gloo


def test_one_process_joins_no_group_and_keeps_its_batches() -> None:
    with process_group("cpu"):
        assert world() == (0, 1)
        assert gather_batches([range(0, 3), range(3, 4)], len) == [3, 1]
        assert from_main("result") == "result"


def test_a_rank_without_its_own_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    group = process_group("cuda")
    with pytest.raises(ValueError, match="needs GPU 1, but it has 1; start at most 1"):
        group.__enter__()
