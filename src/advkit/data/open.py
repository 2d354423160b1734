"""Every dataset advkit reads, as a map-style (index-addressable) torch dataset.

Problem solved: evaluation at scale needs samples addressed by index (so processes can
split them) and decoded only when used (so memory does not grow with the dataset).
:func:`open_dataset` returns any dataset by name as a :class:`torch.utils.data.Dataset`
of ``(image, label)`` samples, images float32 (C, H, W) in [0, 1]; stream it with
:func:`advkit.data.loader.data_loader`.

Names: the built-in and official ones of :data:`advkit.data.DATASETS` (``digits``,
``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``: compact uint8 arrays converted
per sample; ``imagenet``: the validation folder, decoded per sample), and the custom
ones of :data:`CUSTOM_DATASETS`: ``folder`` (any class-folder tree of images) and
``tensors`` (an ``.npz``/``.pt`` file), both named by ``data_dir``.

Example:
    >>> from advkit.data.open import open_dataset
    >>> ds = open_dataset("digits", "test")
    >>> len(ds), ds[0][1]
    (599, 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from torch.utils.data import ConcatDataset, Dataset

from advkit.data.array_dataset import ArrayDataset
from advkit.data.digits import load_digits_split
from advkit.data.image_folder import ImageFolder
from advkit.data.imagenet import imagenet_val
from advkit.data.loader import Sample
from advkit.data.official import OFFICIAL, read_official
from advkit.data.tensor_file import read_tensor_file

__all__ = ["CUSTOM_DATASETS", "SPLITS", "open_dataset"]

SPLITS = ("train", "test", "all")

CUSTOM_DATASETS: Mapping[str, str] = MappingProxyType(
    {
        "folder": "any folder of images, DIR/<class>/<image> (--data-dir DIR; classes sorted)",
        "tensors": "images and labels in an .npz or .pt file (--data-dir FILE; keys x, y)",
    }
)
"""Datasets the user supplies through ``data_dir``, with a line for listings."""


def open_dataset(
    name: str,
    split: str = "test",
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    verify: bool = True,
) -> Dataset[Sample]:
    """A dataset split as a map-style dataset of ``(image, label)`` samples.

    Args:
        name: a name of :data:`advkit.data.DATASETS` or of :data:`CUSTOM_DATASETS`.
        split: ``"train"``, ``"test"`` or ``"all"`` (train then test). ``imagenet``
            reads ``data_dir/val`` (or ``data_dir`` itself) for ``"test"`` and
            ``data_dir/train`` for ``"train"``; ``folder`` and ``tensors`` ignore it.
        data_dir: local folder of the files (the file itself for ``tensors``); needed
            for ``imagenet``, ``folder`` and ``tensors``.
        download, verify: as for :func:`advkit.data.load_dataset`.

    Raises:
        ValueError: unknown name or split; ``data_dir`` missing where needed; a wrong
            layout, label mapping or file content (see the loaders).
        FileNotFoundError, ChecksumError, DownloadError: see
            :func:`advkit.data.load_dataset`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    folder = None if data_dir is None else Path(data_dir).expanduser()
    if name in ("imagenet", *CUSTOM_DATASETS):
        if folder is None:
            what = "an .npz or .pt file" if name == "tensors" else "a folder"
            raise ValueError(
                f"dataset {name!r} is read from {what}: give it as data_dir (--data-dir)."
            )
        return _local(name, split, folder)
    if name == "digits":
        return ArrayDataset(*load_digits_split(split))
    if name not in OFFICIAL:
        known = sorted([*OFFICIAL, "digits", "imagenet", *CUSTOM_DATASETS])
        raise ValueError(f"unknown dataset {name!r}; choose one of {known}.")
    splits = ("train", "test") if split == "all" else (split,)
    parts = [ArrayDataset(*read_official(name, s, folder, download, verify)) for s in splits]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def _local(name: str, split: str, path: Path) -> Dataset[Sample]:
    """A dataset read from the user's ``path``: ``imagenet``, ``folder`` or ``tensors``."""
    if name == "tensors":
        return ArrayDataset(*read_tensor_file(path))
    if name == "folder":
        return ImageFolder(path)
    splits = ("train", "test") if split == "all" else (split,)
    parts = [imagenet_val(_imagenet_split(path, s)) for s in splits]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def _imagenet_split(folder: Path, split: str) -> Path:
    """The class-folder tree of an ImageNet split under ``folder``."""
    sub = folder / ("val" if split == "test" else split)
    if sub.is_dir():
        return sub
    if split == "test":
        return folder
    raise FileNotFoundError(f"no ImageNet {split} folder {sub}; put the {split} images there.")
