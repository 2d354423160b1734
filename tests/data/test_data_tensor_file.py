"""Custom data from an .npz or .pt file: read, and refused with a clear error when wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advkit.data import load_dataset, open_dataset
from advkit.data.tensor_file import read_tensor_file


def test_npz_uint8_is_scaled_to_unit_range(tmp_path: Path):
    path = tmp_path / "data.npz"
    x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    np.savez(path, x=x, y=np.array([1, 0]))
    images, labels = load_dataset("tensors", data_dir=path)
    assert images.dtype == torch.float32 and images.shape == (2, 3, 4, 4)
    torch.testing.assert_close(images, torch.from_numpy(x).float() / 255)
    assert labels.tolist() == [1, 0] and labels.dtype == torch.int64


def test_pt_dict_and_pair_load_with_weights_only(tmp_path: Path):
    x, y = torch.rand(3, 1, 5, 5), torch.tensor([2, 0, 1])
    torch.save({"images": x, "labels": y}, tmp_path / "a.pt")
    torch.save((x, y), tmp_path / "b.pt")
    for name in ("a.pt", "b.pt"):
        ds = open_dataset("tensors", data_dir=tmp_path / name)
        assert len(ds) == 3
        image, label = ds[1]
        torch.testing.assert_close(image, x[1])
        assert label == 0


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"x": np.full((2, 1, 2, 2), np.nan, np.float32), "y": [0, 1]}, "8 image values are NaN"),
        ({"x": np.full((2, 1, 2, 2), 2.0, np.float32), "y": [0, 1]}, r"lie in \[0, 1\].*\[2, 2\]"),
        ({"x": np.zeros((2, 2, 2), np.float32), "y": [0, 1]}, r"shape \(N, C, H, W\)"),
        ({"x": np.zeros((2, 1, 2, 2), np.float32), "y": [0, -1]}, "labels must lie in ≥ 0"),
        ({"x": np.zeros((2, 1, 2, 2), np.float32), "y": [0.5, 1.0]}, "labels must be 2 integers"),
        ({"x": np.zeros((2, 1, 2, 2), np.float32), "y": [0]}, r"shape \(2,\)"),
        ({"x": np.zeros((2, 1, 2, 2), np.int32), "y": [0, 1]}, "uint8 pixels or floats"),
        ({"images": np.zeros((2, 1, 2, 2), np.float32)}, "keys 'x' and 'y'"),
    ],
)
def test_bad_npz_is_a_clear_error(tmp_path: Path, content: dict[str, object], match: str):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        load_dataset("tensors", data_dir=path)


def test_labels_beyond_the_class_count(tmp_path: Path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 1, 2, 2), np.uint8), y=np.array([0, 10]))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9, got 0\.\.10"):
        read_tensor_file(path, num_classes=10)


def test_pt_with_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "evil.pt"
    torch.save({"x": _Payload(), "y": torch.tensor([0])}, path)
    with pytest.raises(ValueError, match=r"weights_only=True"):
        read_tensor_file(path)
    assert "code ran" not in capsys.readouterr().out


def test_wrong_suffix_and_missing_file(tmp_path: Path):
    (tmp_path / "d.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"must end in \.npz, \.pt, \.pth"):
        read_tensor_file(tmp_path / "d.csv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("tensors", data_dir=tmp_path / "none.npz")
    with pytest.raises(ValueError, match=r"is a folder; give the \.npz or \.pt file itself"):
        load_dataset("tensors", data_dir=tmp_path)
