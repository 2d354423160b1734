"""The gallery of broken samples: clean input, adversarial example, amplified difference.

It reads the adversarial examples ``advkit evaluate`` kept beside its JSON
(:func:`advkit.evaluate.examples.load_examples`) and the clean inputs from the data the
results name (their ``"source"``, loaded again without any download). Whatever cannot be
shown is said, not raised: a missing or unreadable examples file, samples without a kept
example, data that cannot be loaded again; the page lists the samples concerned.

Example:
    >>> from pathlib import Path
    >>> from advkit.report.gallery import gallery
    >>> results = {"eps": 0.1, "samples": {"0.1": []}}
    >>> gallery(results, Path("run.json")).tiles
    ()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from advkit.data import load_dataset
from advkit.evaluate.examples import AdversarialExample, examples_path, load_examples
from advkit.evaluate.records import CLEAN
from advkit.report.images import difference, image_uri

__all__ = ["GALLERY_SIZE", "Gallery", "Tile", "broken_records", "gallery"]

GALLERY_SIZE = 12
"""How many broken samples the gallery shows at most (the first, by index)."""


@dataclass(frozen=True)
class Tile:
    """One broken sample of the gallery.

    Attributes:
        index: the sample's position in the evaluated data.
        label: its true label.
        adversarial_label: the model's label at the adversarial example.
        attack: the attack that found the example.
        distance: ‖x_adv − x‖ in the threat's norm.
        clean: the clean input's image URI, or None when it cannot be shown.
        adversarial: the example's image URI, or None when it is not an image.
        difference: the amplified difference's image URI, or None.
        gain: the difference's amplification, or None.
    """

    index: int
    label: int
    adversarial_label: int
    attack: str
    distance: float
    clean: str | None
    adversarial: str | None
    difference: str | None
    gain: float | None


@dataclass(frozen=True)
class Gallery:
    """What the gallery shows, and what it cannot show and why.

    Attributes:
        tiles: the samples shown, by index.
        broken: how many samples an attack broke at the main ε.
        notes: one sentence per thing that cannot be shown, naming the samples.
    """

    tiles: tuple[Tile, ...]
    broken: int
    notes: tuple[str, ...]


def broken_records(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-sample records of the samples an attack broke at the main ε (not the
    ones misclassified from the start), by index."""
    records = results.get("samples", {}).get(str(results.get("eps")), [])
    return [r for r in records if not r["robust"] and r["broken_by"] not in (None, CLEAN)]


def gallery(results: dict[str, Any], path: Path, limit: int = GALLERY_SIZE) -> Gallery:
    """The gallery of the evaluate results ``results`` read from ``path``.

    Args:
        results: the results JSON (:func:`advkit.schema.read_results`).
        path: the JSON file's path; the examples lie beside it.
        limit: the most samples shown.
    """
    broken = [int(r["index"]) for r in broken_records(results)]
    if not broken:
        return Gallery((), 0, ())
    notes: list[str] = []
    examples = _examples(results, path, broken, notes)
    shown = [i for i in broken if i in examples]
    if len(shown) > limit:
        notes.append(f"Showing the first {limit} of the {len(shown)} samples with an example.")
        shown = shown[:limit]
    clean = _clean_inputs(results, notes) if shown else None
    lo, hi = _box(results)
    labels = {int(r["index"]): int(r["label"]) for r in broken_records(results)}
    tiles = tuple(_tile(examples[i], labels[i], clean, lo, hi) for i in shown)
    if tiles and tiles[0].adversarial is None:
        notes.append("The inputs are not images: the gallery shows no pictures.")
    return Gallery(tiles, len(broken), tuple(notes))


def _examples(
    results: dict[str, Any], path: Path, broken: list[int], notes: list[str]
) -> Mapping[int, AdversarialExample]:
    """The kept examples; ``notes`` gets a sentence for every broken sample without one."""
    file = examples_path(path)
    if results.get("adversarial_examples") is None:
        notes.append(
            "No adversarial examples were kept for this run (advkit evaluate --save-adv "
            f"none): samples {_indices(broken)} cannot be shown."
        )
        return {}
    if not file.exists():
        notes.append(
            f"The adversarial-example file {file.name} is missing beside {path.name}: "
            f"samples {_indices(broken)} cannot be shown. Keep the file advkit evaluate "
            "wrote beside the JSON to see them."
        )
        return {}
    try:
        examples = load_examples(file)
    except (ValueError, OSError) as err:
        notes.append(f"{err}. Samples {_indices(broken)} cannot be shown.")
        return {}
    lacking = [i for i in broken if i not in examples]
    if lacking:
        notes.append(
            f"{file.name} holds no example for samples {_indices(lacking)}: they cannot be shown."
        )
    return examples


def _clean_inputs(results: dict[str, Any], notes: list[str]) -> Tensor | None:
    """The evaluated inputs, loaded again as the results' source says (no download);
    None, with a note, when they cannot be."""
    source = results.get("source") or {}
    try:
        x, _ = load_dataset(
            source["dataset"],
            split=source.get("split", "test"),
            data_dir=source.get("data_dir"),
            download=False,
            limit=source.get("n"),
            verify=source.get("verify_data", True),
        )
    except (KeyError, ValueError, OSError) as err:
        notes.append(
            f"The clean inputs cannot be loaded again ({err}): the gallery shows the "
            "adversarial examples without their clean inputs and differences."
        )
        return None
    return x


def _tile(ex: AdversarialExample, label: int, clean: Tensor | None, lo: float, hi: float) -> Tile:
    """The gallery tile of one kept example (``clean``: all evaluated inputs, or None)."""
    x = None if clean is None or ex.index >= clean.shape[0] else clean[ex.index]
    diff, gain = (None, None) if x is None else difference(x, ex.x_adv)
    return Tile(
        index=ex.index,
        label=label,
        adversarial_label=int(ex.logits.argmax()),
        attack=ex.attack,
        distance=ex.distance,
        clean=None if x is None else image_uri(x, lo, hi),
        adversarial=image_uri(ex.x_adv, lo, hi),
        difference=None if diff is None else image_uri(diff, 0.0, 1.0),
        gain=gain,
    )


def _box(results: dict[str, Any]) -> tuple[float, float]:
    """The input box of the results' source (``[0, 1]`` when not recorded)."""
    source = results.get("source") or {}
    return float(source.get("lo", 0.0)), float(source.get("hi", 1.0))


def _indices(indices: Sequence[int]) -> str:
    """``[3, 5, 9]`` → ``"3, 5, 9"``."""
    return ", ".join(str(i) for i in indices)
