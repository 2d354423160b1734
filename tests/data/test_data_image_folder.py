"""Any folder of images (class-folder layout): labels, shapes, range, and layout errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from advkit.data import data_loader, load_dataset, open_dataset
from advkit.data.image_folder import ImageFolder, ImageTransform


def write_images(root: Path, classes: dict[str, int], size: tuple[int, int] = (6, 5)) -> None:
    """``classes[name]`` RGB PNGs of ``size`` (w, h) in ``root/name``; pixel value = index."""
    for c, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = np.full((size[1], size[0], 3), 10 * c + i, np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")


def test_classes_sorted_labels_shapes_and_range(tmp_path: Path):
    write_images(tmp_path, {"zebra": 2, "ant": 3})
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    ds = open_dataset("folder", data_dir=tmp_path)
    assert isinstance(ds, ImageFolder) and ds.classes == ("ant", "zebra")
    assert len(ds) == 5
    x, y = load_dataset("folder", data_dir=tmp_path)
    assert x.shape == (5, 3, 5, 6) and x.dtype == torch.float32
    assert y.tolist() == [0, 0, 0, 1, 1]
    # zebra was written first (c = 0): its pixels are 0, 1; ant's 10, 11, 12
    expected = torch.tensor([10, 11, 12, 0, 1], dtype=torch.float32) / 255
    torch.testing.assert_close(x[:, 0, 0, 0], expected)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    x3, _ = load_dataset("folder", data_dir=tmp_path, limit=3)
    torch.testing.assert_close(x3, x[:3])


def test_grayscale_images_give_one_channel(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").save(tmp_path / name / "0.png")
    x, y = load_dataset("folder", data_dir=tmp_path)
    assert x.shape == (2, 1, 4, 4) and y.tolist() == [0, 1]


def test_loader_streams_batches_in_index_order_and_shards(tmp_path: Path):
    write_images(tmp_path, {"a": 3, "b": 4})
    ds = open_dataset("folder", data_dir=tmp_path)
    batches = list(data_loader(ds, batch_size=3, num_workers=1))
    assert [len(b[1]) for b in batches] == [3, 3, 1]
    assert torch.cat([b[1] for b in batches]).tolist() == [0, 0, 0, 1, 1, 1, 1]
    shard = list(data_loader(ds, batch_size=8, indices=range(1, 7, 2)))
    x_all, _ = load_dataset("folder", data_dir=tmp_path)
    torch.testing.assert_close(shard[0][0], x_all[[1, 3, 5]])


def test_transform_resizes_the_short_side_and_center_crops(tmp_path: Path):
    write_images(tmp_path, {"a": 1}, size=(40, 20))
    ds = ImageFolder(tmp_path, ImageTransform(resize=16, crop=12))
    assert ds[0][0].shape == (3, 12, 12)
    assert ImageFolder(tmp_path, ImageTransform(resize=10)).shape == (3, 10, 20)


def test_images_directly_in_the_folder_are_a_layout_error(tmp_path: Path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "0.png")
    with pytest.raises(ValueError, match=r"holds no class folders \(1 images lie directly"):
        load_dataset("folder", data_dir=tmp_path)


def test_empty_class_folder_and_missing_folder(tmp_path: Path):
    write_images(tmp_path, {"a": 1})
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match=r"1 class folders of .* hold no image \(b\)"):
        open_dataset("folder", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_dataset("folder", data_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="give it as data_dir"):
        open_dataset("folder")


def test_images_of_another_size_or_unreadable_are_errors(tmp_path: Path):
    write_images(tmp_path, {"a": 1}, size=(4, 4))
    write_images(tmp_path, {"b": 1}, size=(5, 4))
    with pytest.raises(ValueError, match=r"batches need one size.*ImageTransform"):
        load_dataset("folder", data_dir=tmp_path)
    (tmp_path / "b" / "000.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*000\.png"):
        load_dataset("folder", data_dir=tmp_path)


def test_images_are_decoded_only_when_indexed(tmp_path: Path):
    write_images(tmp_path, {"a": 2})
    (tmp_path / "a" / "001.png").write_bytes(b"damaged")
    ds = open_dataset("folder", data_dir=tmp_path)  # lists the files, decodes the first only
    assert ds[0][0].shape == (3, 5, 6)
    with pytest.raises(ValueError, match=r"cannot read image .*001\.png"):
        ds[1]
