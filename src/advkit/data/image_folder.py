"""Any folder of images in the class-folder layout, read one image at a time with Pillow.

Problem solved: custom and large datasets (ImageNet's validation set, a folder of
photos) do not fit in memory as one tensor. :class:`ImageFolder` lists the files once
(``root/<class>/<image>``, classes in sorted order, labels their index unless a mapping
is given) and decodes an image only when it is indexed, so a
:class:`torch.utils.data.DataLoader` streams it with workers and the memory stays bounded
by the batch. :class:`ImageTransform` is the usual evaluation preprocessing (resize the
shorter side, center crop) done with Pillow.

Example:
    >>> from advkit.data.image_folder import ImageFolder, ImageTransform
    >>> ds = ImageFolder("photos", ImageTransform(resize=256, crop=224))  # doctest: +SKIP
    >>> x, label = ds[0]  # doctest: +SKIP
    >>> tuple(x.shape), ds.classes[label]  # doctest: +SKIP
    ((3, 224, 224), 'cat')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from advkit.data.array_dataset import to_unit_float

__all__ = ["IMAGE_SUFFIXES", "ImageFolder", "ImageTransform", "scan_class_folders"]

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff")
"""File suffixes read as images (any case); other files are ignored."""

_GRAY_MODES = ("1", "L", "I", "I;16", "F")


@dataclass(frozen=True)
class ImageTransform:
    """Resize the shorter side to ``resize`` (bilinear), then center-crop ``crop`` square.

    Both optional; the rounding follows torchvision's ``Resize``/``CenterCrop``, so
    ``ImageTransform(256, 224)`` is the standard ImageNet evaluation preprocessing.

    Example:
        >>> from PIL import Image
        >>> ImageTransform(256, 224)(Image.new("RGB", (500, 375))).size
        (224, 224)
    """

    resize: int | None = None
    crop: int | None = None

    def __call__(self, image: Image.Image) -> Image.Image:
        """The transformed image."""
        if self.resize is not None:
            w, h = image.size
            short, long = (w, h) if w <= h else (h, w)
            other = int(self.resize * long / short)
            size = (self.resize, other) if w <= h else (other, self.resize)
            image = image.resize(size, Image.Resampling.BILINEAR)
        if self.crop is not None:
            w, h = image.size
            if w < self.crop or h < self.crop:
                raise ValueError(
                    f"a {w}x{h} image is smaller than the {self.crop}x{self.crop} crop; "
                    "resize it first (ImageTransform(resize=...))."
                )
            left, top = round((w - self.crop) / 2), round((h - self.crop) / 2)
            image = image.crop((left, top, left + self.crop, top + self.crop))
        return image


def scan_class_folders(root: str | Path) -> dict[str, list[str]]:
    """The image file paths of each class folder of ``root``, classes and files sorted.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: ``root`` holds no class folders (e.g. the images lie directly in it),
            or a class folder holds no image; the message shows the expected layout.

    Example:
        >>> from advkit.data.image_folder import scan_class_folders
        >>> sorted(scan_class_folders("photos"))  # doctest: +SKIP
        ['cat', 'dog']
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} is not a folder.")
    layout = f"expected {root}/<class name>/<image file>, one subfolder per class"
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        loose = sum(1 for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        found = f"{loose} images lie directly in it" if loose else "it has no subfolders"
        raise ValueError(f"{root} holds no class folders ({found}); {layout}.")
    files = {folder.name: _images(folder) for folder in folders}
    empty = [name for name, paths in files.items() if not paths]
    if empty:
        raise ValueError(
            f"{len(empty)} class folders of {root} hold no image ({', '.join(empty[:5])}); "
            f"{layout}, images with a suffix among {', '.join(IMAGE_SUFFIXES)}."
        )
    return files


def _images(folder: Path) -> list[str]:
    """The image files under ``folder`` (any depth), sorted; as str, the lightest form."""
    return sorted(
        os.path.join(top, name)
        for top, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")
    )


class ImageFolder(Dataset[tuple[torch.Tensor, int]]):
    """Map-style dataset of the images of ``root/<class>/<image>``, decoded when indexed.

    Sample ``i`` is ``(image, label)``: a float32 (C, H, W) tensor in [0, 1] (pixels / 255)
    and an int. Samples are ordered by class, then by file path.

    Args:
        root: the folder of class folders.
        transform: applied to each image (default: none; every image must then have the
            first image's size).
        labels: the label of each class folder name (default: index in sorted order);
            every folder must be in it.
        mode: Pillow mode the images are converted to (``"RGB"``: 3 channels, ``"L"``: 1);
            default: ``"L"`` when the first image is grayscale, else ``"RGB"``.

    Raises:
        FileNotFoundError, ValueError: see :func:`scan_class_folders`; a folder missing
            from ``labels``.
    """

    def __init__(
        self,
        root: str | Path,
        transform: ImageTransform | None = None,
        labels: Mapping[str, int] | None = None,
        mode: str | None = None,
    ) -> None:
        files = scan_class_folders(root)
        self.root = Path(root)
        self.classes = tuple(files)
        labels = labels if labels is not None else {c: i for i, c in enumerate(self.classes)}
        unknown = [c for c in self.classes if c not in labels]
        if unknown:
            raise ValueError(
                f"class folders {unknown[:5]} of {root} have no label in the mapping; "
                "rename them or add them to the mapping."
            )
        # str, not Path: about 150 bytes per file is all the dataset holds per sample
        self.samples = [(path, labels[c]) for c, paths in files.items() for path in paths]
        self.transform = transform or ImageTransform()
        self.mode = mode or _mode_of(Path(self.samples[0][0]))
        self.shape = tuple(self._read(0).shape)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self._read(index)
        if tuple(image.shape) != self.shape:
            path = self.samples[index][0]
            raise ValueError(
                f"{path} gives a {tuple(image.shape)} image, the first image of {self.root} "
                f"a {self.shape} one; batches need one size: resize the images, or pass "
                "ImageTransform(resize=..., crop=...)."
            )
        return image, self.samples[index][1]

    def _read(self, index: int) -> torch.Tensor:
        """Image ``index`` as a float (C, H, W) tensor in [0, 1]."""
        path = self.samples[index][0]
        try:
            with Image.open(path) as image:
                pixels = np.array(self.transform(image.convert(self.mode)), dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read image {path} ({err}); replace or remove it.") from err
        pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
        return to_unit_float(pixels.transpose(2, 0, 1))


def _mode_of(path: Path) -> str:
    """``"L"`` for a grayscale image file, ``"RGB"`` otherwise."""
    try:
        with Image.open(path) as image:
            return "L" if image.mode in _GRAY_MODES else "RGB"
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read image {path} ({err}); replace or remove it.") from err
