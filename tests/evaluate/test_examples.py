"""Evidence kept: the adversarial example of every broken sample, in memory, in the store
and in one safetensors file that a resumed run writes bit for bit as an uninterrupted one."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from torch import Tensor

import advkit
from advkit import APGD, BIM
from advkit.data import load_dataset
from advkit.evaluate.examples import examples_path, file_sha256, load_examples, save_examples
from advkit.evaluate.records import CLEAN
from advkit.evaluate.report import Evaluation
from linear_digits import linear_digits

pytestmark = pytest.mark.usefixtures("single_thread")

run_module = importlib.import_module("advkit.evaluate.run")
SUITE: list[tuple[str, Any]] = [("apgd-ce", APGD(steps=5))]
THREAT = advkit.Linf(0.1)
CURVE = [0.03, 0.05]


@pytest.fixture(scope="module")
def data() -> tuple[Tensor, Tensor]:
    return load_dataset("digits", split="test", limit=40)


def run(data: tuple[Tensor, Tensor], **options: Any) -> Evaluation:
    options = {"eps_curve": CURVE, "batch_size": 16, "progress": False, **options}
    return advkit.evaluate(linear_digits(), data, THREAT, SUITE, **options)


def first_broken(ev: Evaluation) -> dict[int, float]:
    """Per sample broken by an attack: the smallest ε at which the records say so."""
    found: dict[int, float] = {}
    for eps in sorted(ev.samples):
        for r in ev.samples[eps]:
            if not r.robust and r.broken_by != CLEAN:
                found.setdefault(r.index, eps)
    return found


def test_every_broken_sample_keeps_the_example_that_broke_it(
    data: tuple[Tensor, Tensor],
) -> None:
    ev = run(data)
    first = first_broken(ev)
    assert len(first) > 5 and sorted(ev.examples) == sorted(first)
    model, (x, y) = linear_digits(), data
    for i, ex in ev.examples.items():
        assert ex.index == i and ex.attack == "apgd-ce" and ex.eps == first[i]
        record = next(r for r in ev.samples[ex.eps] if r.index == i)
        assert ex.distance == record.distance
        assert float((ex.x_adv - x[i]).abs().max()) <= ex.eps + 1e-6
        assert float(ex.x_adv.min()) >= 0.0 and float(ex.x_adv.max()) <= 1.0
        logits = model(ex.x_adv[None])[0]
        assert int(logits.argmax()) != int(y[i])
        torch.testing.assert_close(ex.logits, logits.detach(), atol=1e-5, rtol=0)


def test_samples_a_masking_check_broke_keep_the_check_example(
    data: tuple[Tensor, Tensor],
) -> None:
    """A feeble suite leaves samples that FGSM then breaks: they count as broken at the
    main ε, and their example is FGSM's."""
    feeble: list[tuple[str, Any]] = [("bim", BIM(steps=1, rel_step=0.01))]
    ev = advkit.evaluate(linear_digits(), data, THREAT, feeble, batch_size=16, progress=False)
    checked = {i for i, ex in ev.examples.items() if ex.attack.startswith("check:")}
    assert checked, ev.table()
    main = {r.index: r for r in ev.samples[THREAT.eps]}
    for i in checked:
        ex = ev.examples[i]
        assert ex.attack == main[i].broken_by and ex.eps == THREAT.eps
        assert int(linear_digits()(ex.x_adv[None]).argmax()) != int(data[1][i])


def test_the_file_reads_back_with_plain_safetensors(
    data: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    ev = run(data)
    path = tmp_path / "run.adv.safetensors"
    digest = save_examples(path, ev.examples)
    assert digest == file_sha256(path) and len(digest) == 64
    back = load_examples(path)
    assert sorted(back) == sorted(ev.examples)
    for i, ex in ev.examples.items():
        got = back[i]
        assert (got.attack, got.distance, got.eps) == (ex.attack, ex.distance, ex.eps)
        assert torch.equal(got.x_adv, ex.x_adv) and torch.equal(got.logits, ex.logits)
    with safe_open(str(path), framework="pt") as f:  # the documented layout
        assert set(f.keys()) == {"index", "x_adv", "logits", "distance", "eps"}
        index = f.get_tensor("index")
        meta = json.loads(f.metadata()["advkit"])
    assert index.tolist() == sorted(ev.examples)
    assert meta["attacks"] == [ev.examples[i].attack for i in index.tolist()]
    save_examples(tmp_path / "again.adv.safetensors", ev.examples)
    assert file_sha256(tmp_path / "again.adv.safetensors") == digest


def test_no_broken_sample_writes_an_empty_file(tmp_path: Path) -> None:
    path = save_examples(tmp_path / "none.adv.safetensors", {})
    assert load_examples(tmp_path / "none.adv.safetensors") == {} and len(path) == 64


def test_the_file_lies_beside_the_results() -> None:
    assert examples_path(Path("results/run.json")) == Path("results/run.adv.safetensors")


def test_a_killed_and_resumed_run_keeps_every_example(
    data: tuple[Tensor, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = run(data, store=tmp_path / "whole.sqlite")
    attack_batch = run_module._attack_batch
    calls = 0

    def killed_after_three(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise KeyboardInterrupt
        return attack_batch(*args, **kwargs)

    store = tmp_path / "resumed.sqlite"
    monkeypatch.setattr(run_module, "_attack_batch", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        run(data, store=store)
    monkeypatch.setattr(run_module, "_attack_batch", attack_batch)
    resumed = run(data, store=store)
    assert sorted(resumed.examples) == sorted(whole.examples)
    a = save_examples(tmp_path / "whole.adv.safetensors", whole.examples)
    b = save_examples(tmp_path / "resumed.adv.safetensors", resumed.examples)
    assert a == b


def test_a_store_read_back_entirely_gives_the_same_examples(
    data: tuple[Tensor, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "r.sqlite"
    first = run(data, store=store)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished batch was recomputed")

    monkeypatch.setattr(run_module, "_attack_batch", boom)
    again = run(data, store=store)
    a = save_examples(tmp_path / "a.adv.safetensors", first.examples)
    assert save_examples(tmp_path / "b.adv.safetensors", again.examples) == a
