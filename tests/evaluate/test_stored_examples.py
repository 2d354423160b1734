"""With a store, an evaluation's examples are read from it when looked up: the same
examples, the same examples file, and a clear error once the store is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import advkit
from advkit import APGD
from advkit.data import load_dataset
from advkit.evaluate.examples import file_sha256, load_examples, save_examples
from advkit.evaluate.report import Evaluation
from advkit.evaluate.stored_examples import StoredExamples
from linear_digits import linear_digits

pytestmark = pytest.mark.usefixtures("single_thread")

SUITE: list[tuple[str, Any]] = [("apgd-ce", APGD(steps=5))]


def run(store: Path | None) -> Evaluation:
    data: tuple[Tensor, Tensor] = load_dataset("digits", split="test", limit=60)
    return advkit.evaluate(
        linear_digits(),
        data,
        advkit.Linf(0.1),
        SUITE,
        eps_curve=[0.05, 0.2],
        batch_size=16,
        progress=False,
        store=store,
    )


@pytest.fixture(scope="module")
def in_memory() -> Evaluation:
    return run(None)


def same(a: Any, b: Any) -> bool:
    return (a.index, a.attack, a.distance, a.eps) == (b.index, b.attack, b.distance, b.eps) and (
        torch.equal(a.x_adv, b.x_adv) and torch.equal(a.logits, b.logits)
    )


def test_the_store_gives_the_same_examples_and_file(in_memory: Evaluation, tmp_path: Path) -> None:
    ev = run(tmp_path / "run.sqlite")
    assert isinstance(ev.examples, StoredExamples)
    assert list(ev.examples) == sorted(in_memory.examples) and len(ev.examples) > 10
    assert {e.eps for e in ev.examples.values()} == {0.05, 0.1, 0.2}  # the smallest ε
    assert all(same(ev.examples[i], ex) for i, ex in in_memory.examples.items())
    stored = save_examples(tmp_path / "a.adv.safetensors", ev.examples)
    assert stored == save_examples(tmp_path / "b.adv.safetensors", in_memory.examples)
    back = load_examples(tmp_path / "a.adv.safetensors")
    assert all(same(back[i], ex) for i, ex in in_memory.examples.items())
    resumed = run(tmp_path / "run.sqlite")  # read back, nothing attacked again
    assert all(same(resumed.examples[i], ex) for i, ex in in_memory.examples.items())
    assert file_sha256(tmp_path / "a.adv.safetensors") == stored


def test_a_store_removed_after_the_evaluation_is_a_clear_error(tmp_path: Path) -> None:
    ev = run(tmp_path / "gone.sqlite")
    (tmp_path / "gone.sqlite").unlink()
    with pytest.raises(LookupError, match="is gone: keep it until the examples are written"):
        ev.examples[next(iter(ev.examples))]


def test_the_examples_file_has_the_safetensors_layout(tmp_path: Path) -> None:
    """Read back by safetensors itself: header, dtypes and shapes of the documented layout."""
    from safetensors.torch import load_file

    ev = run(None)
    save_examples(tmp_path / "run.adv.safetensors", ev.examples)
    tensors = load_file(tmp_path / "run.adv.safetensors")
    m = len(ev.examples)
    assert tensors["index"].tolist() == sorted(ev.examples)
    assert tuple(tensors["x_adv"].shape) == (m, 1, 8, 8) and tensors["x_adv"].dtype == torch.float32
    assert tuple(tensors["logits"].shape) == (m, 10)
    assert tensors["distance"].dtype == tensors["eps"].dtype == torch.float64
