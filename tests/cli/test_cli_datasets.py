"""`--dataset folder|tensors|cifar100|imagenet` with `--data-dir` reach `advkit evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from advkit import cli
from advkit.data import load_dataset


def evaluate(data: str, path: Path, out: Path) -> dict[str, object]:
    argv = ["evaluate", "--dataset", data, "--data-dir", str(path), "--suite", "fast"]
    assert cli.main([*argv, "--n", "4", "--out", str(out), "--quiet", "--json"]) == 0
    return dict(json.loads(out.read_text()))


def digit_pixels() -> tuple[np.ndarray, list[int]]:
    """The first test digits as uint8 pixels, and their labels."""
    x, y = load_dataset("digits", limit=6)
    return (x.numpy() * 255).round().astype(np.uint8), y.tolist()


def test_evaluate_reads_a_tensor_file(tmp_path: Path):
    """The built-in digits CNN on the first test digits, saved as .npz."""
    pixels, labels = digit_pixels()
    np.savez(tmp_path / "digits.npz", x=pixels, y=np.array(labels))
    res = evaluate("tensors", tmp_path / "digits.npz", tmp_path / "t.json")
    assert res["n"] == 4 and res["info"]["dataset"] == "tensors/test"  # type: ignore[index]


def test_evaluate_reads_a_folder_of_images(tmp_path: Path):
    """The same digits as PNG files in class folders."""
    pixels, labels = digit_pixels()
    for i, (image, label) in enumerate(zip(pixels[:4], labels[:4], strict=True)):
        (tmp_path / f"{label}").mkdir(exist_ok=True)
        Image.fromarray(image[0], mode="L").save(tmp_path / f"{label}" / f"{i}.png")
    res = evaluate("folder", tmp_path, tmp_path.parent / "f.json")
    assert res["n"] == 4


def test_bad_data_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    np.savez(tmp_path / "nan.npz", x=np.full((2, 1, 8, 8), np.nan, np.float32), y=[0, 1])
    argv = ["evaluate", "--dataset", "tensors", "--data-dir", str(tmp_path / "nan.npz")]
    assert cli.main([*argv, "--out", str(tmp_path / "o.json"), "--quiet"]) == 2
    assert "image values are NaN" in capsys.readouterr().err
    argv = ["evaluate", "--dataset", "imagenet", "--data-dir", str(tmp_path)]
    assert cli.main([*argv, "--out", str(tmp_path / "o.json"), "--quiet"]) == 2
    assert "must be the 1000 ImageNet WordNet ids" in capsys.readouterr().err
