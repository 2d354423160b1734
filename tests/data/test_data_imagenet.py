"""ImageNet validation folder: 224×224 crops, and the label mapping checked."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from advkit.data import load_dataset, open_dataset
from advkit.data.imagenet import imagenet_labels, read_mapping

WNIDS = [f"n{1440764 + 7 * i:08d}" for i in range(1000)]


def jpeg(w: int, h: int, value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def write_classes(root: Path, names: list[str]) -> None:
    """One JPEG per class folder: 300x260 in the first created, 4x4 in the others."""
    small = jpeg(4, 4, 128)
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        (root / name / "img.JPEG").write_bytes(jpeg(300, 260, 0) if i == 0 else small)


def test_wordnet_folders_give_sorted_labels_and_224_crops(tmp_path: Path):
    write_classes(tmp_path / "val", WNIDS[::-1])  # created in reverse order
    ds = open_dataset("imagenet", "test", tmp_path)
    assert len(ds) == 1000
    image, label = ds[0]
    assert image.shape == (3, 224, 224) and label == 0
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    x, y = load_dataset("imagenet", data_dir=tmp_path / "val", limit=3)
    assert x.shape == (3, 3, 224, 224) and y.tolist() == [0, 1, 2]


def test_folders_that_are_not_the_1000_wordnet_ids_are_refused(tmp_path: Path):
    write_classes(tmp_path, ["cat", "dog"])
    with pytest.raises(ValueError, match=r"must be the 1000 ImageNet WordNet ids.*found 2"):
        load_dataset("imagenet", data_dir=tmp_path)
    with pytest.raises(ValueError, match="found 999 folders"):
        imagenet_labels(WNIDS[:999])
    with pytest.raises(ValueError, match=r"not WordNet ids \(\['cat'\]\)"):
        imagenet_labels([*WNIDS[:999], "cat"])


def test_a_mapping_file_labels_a_subset_of_folders(tmp_path: Path):
    order = WNIDS[::-1]  # label i is order[i]
    (tmp_path / "LOC_synset_mapping.txt").write_text(
        "".join(f"{w} class {i}, a name\n" for i, w in enumerate(order))
    )
    write_classes(tmp_path / "val", [order[5], order[2]])
    _, y = load_dataset("imagenet", data_dir=tmp_path)
    assert sorted(y.tolist()) == [2, 5]
    json_map = tmp_path / "index.json"
    json_map.write_text(json.dumps({str(i): [w, f"c{i}"] for i, w in enumerate(order)}))
    assert read_mapping(json_map) == tuple(order)
    assert imagenet_labels([order[7]], json_map)[order[7]] == 7


def test_bad_mapping_files_and_folders_outside_them(tmp_path: Path):
    short = tmp_path / "short.txt"
    short.write_text("\n".join(WNIDS[:999]))
    with pytest.raises(ValueError, match=r"must list 1000 distinct WordNet ids.*lists 999"):
        read_mapping(short)
    good = tmp_path / "good.txt"
    good.write_text("\n".join(WNIDS))
    with pytest.raises(ValueError, match=r"1 class folders are not in the mapping.*\['cat'\]"):
        imagenet_labels([WNIDS[0], "cat"], good)


def test_needs_a_data_dir():
    with pytest.raises(ValueError, match="'imagenet' is read from a folder"):
        load_dataset("imagenet")
