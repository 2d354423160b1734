"""The examples file written one example at a time has safetensors' own bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from advkit.evaluate.examples import LAYOUT, AdversarialExample, load_examples, save_examples


def examples(
    dtype: torch.dtype, indices: tuple[int, ...] = (7, 2, 5)
) -> dict[int, AdversarialExample]:
    g = torch.Generator().manual_seed(len(indices))
    return {
        i: AdversarialExample(
            i,
            f"attack{i}",
            0.1 * i,
            0.05,
            torch.rand(1, 3, 3, generator=g).to(dtype),
            torch.rand(10, generator=g),
        )
        for i in indices
    }


def reference_bytes(exs: dict[int, AdversarialExample]) -> bytes:
    """What ``safetensors.torch.save`` writes for the documented layout."""
    order = sorted(exs)
    stack = (lambda rows: torch.stack(rows)) if order else (lambda rows: torch.zeros(0))
    tensors = {
        "index": torch.tensor(order, dtype=torch.int64),
        "x_adv": stack([exs[i].x_adv for i in order]),
        "logits": stack([exs[i].logits for i in order]),
        "distance": torch.tensor([exs[i].distance for i in order], dtype=torch.float64),
        "eps": torch.tensor([exs[i].eps for i in order], dtype=torch.float64),
    }
    meta = json.dumps({"layout": LAYOUT, "attacks": [exs[i].attack for i in order]})
    return save(tensors, metadata={"advkit": meta})


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_the_bytes_are_safetensors_own(dtype: torch.dtype, tmp_path: Path) -> None:
    exs = examples(dtype)
    path = tmp_path / "run.adv.safetensors"
    digest = save_examples(path, exs)
    assert path.read_bytes() == reference_bytes(exs)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    back = load_examples(path)
    assert all(torch.equal(back[i].x_adv, ex.x_adv) for i, ex in exs.items())


def test_no_example_gives_safetensors_empty_file(tmp_path: Path) -> None:
    save_examples(tmp_path / "none.adv.safetensors", {})
    assert (tmp_path / "none.adv.safetensors").read_bytes() == reference_bytes({})


def test_mixed_dtypes_are_promoted_not_rounded(tmp_path: Path) -> None:
    exs = examples(torch.float32)
    exs[9] = AdversarialExample(
        9, "bf16", 0.3, 0.05, torch.full((1, 3, 3), 0.5, dtype=torch.bfloat16), torch.zeros(10)
    )
    save_examples(tmp_path / "mixed.adv.safetensors", exs)
    back = load_examples(tmp_path / "mixed.adv.safetensors")
    assert back[2].x_adv.dtype == torch.float32 and torch.equal(back[2].x_adv, exs[2].x_adv)


def test_examples_of_different_shapes_are_refused(tmp_path: Path) -> None:
    exs = examples(torch.float32)
    exs[9] = AdversarialExample(9, "other", 0.3, 0.05, torch.zeros(1, 4, 4), torch.zeros(10))
    with pytest.raises(ValueError, match="differ in shape"):
        save_examples(tmp_path / "bad.adv.safetensors", exs)


def test_written_with_another_default_device(tmp_path: Path) -> None:
    exs = examples(torch.float32)
    with torch.device("meta"):
        save_examples(tmp_path / "meta.adv.safetensors", exs)
    assert (tmp_path / "meta.adv.safetensors").read_bytes() == reference_bytes(exs)
