"""load_dataset: local folders, the download path (served from memory), clear errors."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from advkit.data import DATASETS, load_dataset
from advkit.data.idx import write_idx
from shared_data import SHARED_DATA, requires_shared_data


def write_mnist_like(folder: Path, split: str, n: int, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    prefix = "t10k" if split == "test" else "train"
    suffix = ".gz" if gz else ""
    rng = np.random.default_rng(n)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y)
    return x, y


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("sub", ["", "fashion-mnist", "FashionMNIST/raw"])
def test_local_idx_folder(tmp_path: Path, gz: bool, sub: str):
    x, y = write_mnist_like(tmp_path / sub, "test", 5, gz)
    images, labels = load_dataset("fashion-mnist", data_dir=tmp_path, verify=False)
    assert images.shape == (5, 1, 28, 28)
    assert images.dtype == torch.float32
    assert labels.dtype == torch.int64
    torch.testing.assert_close(images, torch.from_numpy(x[:, None]).float() / 255)
    assert labels.tolist() == y.tolist()


def test_all_split_and_limit(tmp_path: Path):
    write_mnist_like(tmp_path, "train", 4, gz=True)
    write_mnist_like(tmp_path, "test", 3, gz=True)
    assert load_dataset("mnist", "all", data_dir=tmp_path, verify=False)[0].shape == (7, 1, 28, 28)
    x, y = load_dataset("mnist", "all", data_dir=tmp_path, limit=5, verify=False)
    assert x.shape == (5, 1, 28, 28)
    assert y.shape == (5,)
    assert load_dataset("mnist", data_dir=tmp_path, limit=0, verify=False)[0].shape == (
        0,
        1,
        28,
        28,
    )


def test_mismatched_pair(tmp_path: Path):
    write_mnist_like(tmp_path, "test", 5, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"5 images but .* 4 labels"):
        load_dataset("mnist", data_dir=tmp_path, verify=False)


def test_data_dir_never_uses_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used with data_dir")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\.gz or .*--data-dir"):
        load_dataset("mnist", data_dir=tmp_path)


def test_no_download_without_cache_explains_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path))
    for name in ("mnist", "fashion-mnist", "cifar10"):
        with pytest.raises(FileNotFoundError, match=r"download=False.*--data-dir"):
            load_dataset(name, download=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "svhn"}, "unknown dataset 'svhn'"),
        ({"name": "mnist", "split": "valid"}, "split must be one of"),
        ({"name": "digits", "limit": -1}, "limit must be >= 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)  # type: ignore[arg-type]


def test_data_dir_must_exist(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_dataset("mnist", data_dir=tmp_path / "missing")


@requires_shared_data
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_official_test_sets(name: str):
    assert SHARED_DATA is not None
    x, y = load_dataset(name, data_dir=SHARED_DATA / "datasets")
    info = DATASETS[name]
    assert x.shape == (info.test_size, *info.input_shape)
    assert float(x.min()) == 0.0
    assert float(x.max()) == 1.0
    counts = torch.bincount(y)
    assert len(counts) == info.num_classes
    assert int(counts.min()) > 0


@requires_shared_data
def test_download_path_verifies_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The official files, served from memory under their official URLs, pass the checksums."""
    assert SHARED_DATA is not None
    folder = SHARED_DATA / "datasets" / "mnist"
    served = {p.name: p.read_bytes() for p in folder.glob("t10k-*.gz")}
    requests: list[str] = []

    def urlopen(request: urllib.request.Request, timeout: float = 0.0) -> io.BytesIO:
        url = request.full_url
        requests.append(url)
        if not url.startswith("https://ossci-datasets.s3.amazonaws.com/mnist/"):
            raise urllib.error.URLError("official host down")
        response = io.BytesIO(served[url.rsplit("/", 1)[1]])
        response.headers = {}  # type: ignore[attr-defined]
        return response

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("ADVKIT_CACHE", str(tmp_path))
    x, y = load_dataset("mnist", limit=10)
    assert y.tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(served)
    assert len(requests) == 4
    x_cached, _ = load_dataset("mnist", download=False, limit=10)
    torch.testing.assert_close(x_cached, x)
    assert len(requests) == 4
