"""The ImageNet validation set from a local class-folder copy, with its label mapping checked.

Problem solved: ImageNet cannot be downloaded automatically (its license requires a sign
up), and the usual local layout (``val/<WordNet id>/<image>.JPEG``, as torchvision's
``ImageFolder`` and PyTorch's ImageNet example expect) only gives the right labels when
the folders are exactly the 1000 WordNet ids: label ``i`` is the ``i``-th id in sorted
order, which is what every published ImageNet model predicts. A folder with other names,
a missing class or an extra one would silently shift every label. :func:`imagenet_labels`
refuses such a folder unless a mapping file gives each folder's label, and
:func:`imagenet_val` reads it with the standard evaluation preprocessing (shorter side to
256 pixels, center 224×224 crop, Pillow bilinear).

Mapping files (label ``i`` is entry ``i``): a text file with one WordNet id per line,
optionally followed by names (``LOC_synset_mapping.txt`` of the Kaggle release), or a
JSON file ``{"0": ["n01440764", "tench"], ...}`` (``imagenet_class_index.json``).

Example:
    >>> from advkit.data.imagenet import imagenet_val
    >>> ds = imagenet_val("imagenet/val")  # doctest: +SKIP
    >>> x, label = ds[0]  # doctest: +SKIP
    >>> tuple(x.shape), label  # doctest: +SKIP
    ((3, 224, 224), 0)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from advkit.data.image_folder import ImageFolder, ImageTransform

__all__ = [
    "IMAGENET_CLASSES",
    "IMAGENET_TRANSFORM",
    "MAPPING_FILES",
    "imagenet_labels",
    "imagenet_val",
    "read_mapping",
]

IMAGENET_CLASSES = 1000
IMAGENET_TRANSFORM = ImageTransform(resize=256, crop=224)
MAPPING_FILES = ("LOC_synset_mapping.txt", "imagenet_class_index.json")
"""Mapping files picked up from the data folder (or its parent) when none is given."""

_WNID = re.compile(r"n\d{8}")


def read_mapping(path: str | Path) -> tuple[str, ...]:
    """The WordNet id of each label from a mapping file (text or JSON, see the module).

    Raises:
        ValueError: the file does not list 1000 distinct WordNet ids.

    Example:
        >>> from advkit.data.imagenet import read_mapping
        >>> read_mapping("LOC_synset_mapping.txt")[:2]  # doctest: +SKIP
        ('n01440764', 'n01443537')
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        table = json.loads(text)
        ids = [str(table[str(i)][0]) for i in range(len(table))] if isinstance(table, dict) else []
    else:
        ids = [line.split()[0] for line in text.splitlines() if line.strip()]
    bad = [i for i in ids if not _WNID.fullmatch(i)]
    if len(ids) != IMAGENET_CLASSES or len(set(ids)) != len(ids) or bad:
        raise ValueError(
            f"{path} must list {IMAGENET_CLASSES} distinct WordNet ids (nXXXXXXXX), one per "
            f"label in label order; it lists {len(ids)} ({len(set(ids))} distinct"
            + (f", not ids: {bad[:3]}" if bad else "")
            + "). Use LOC_synset_mapping.txt or imagenet_class_index.json."
        )
    return tuple(ids)


def imagenet_labels(folders: Sequence[str], mapping: str | Path | None = None) -> dict[str, int]:
    """The label of each class folder, checked.

    Args:
        folders: the class folder names.
        mapping: a mapping file; without it the folders must be the 1000 WordNet ids,
            labelled in sorted order.

    Raises:
        ValueError: the folders are not the 1000 WordNet ids (no mapping), or some folder
            is not in the mapping; the message names them and how to fix it.

    Example:
        >>> from advkit.data.imagenet import imagenet_labels
        >>> ids = [f"n{i:08d}" for i in range(1000)]
        >>> imagenet_labels(ids[::-1])["n00000002"]
        2
    """
    if mapping is not None:
        ids = read_mapping(mapping)
        unknown = sorted(set(folders) - set(ids))
        if unknown:
            raise ValueError(
                f"{len(unknown)} class folders are not in the mapping {mapping}: "
                f"{unknown[:5]}; name the folders by their WordNet ids."
            )
        return {wnid: i for i, wnid in enumerate(ids)}
    names = sorted(folders)
    bad = [n for n in names if not _WNID.fullmatch(n)]
    if len(names) != IMAGENET_CLASSES or bad:
        raise ValueError(
            f"the class folders must be the {IMAGENET_CLASSES} ImageNet WordNet ids "
            f"(n01440764 ... n15075141), labelled in sorted order; found {len(names)} "
            + (f"folders, some not WordNet ids ({bad[:3]})" if bad else "folders")
            + ". Use the standard layout (val/<wnid>/<image>), or give a mapping file "
            f"(one of {', '.join(MAPPING_FILES)}) saying which label each folder has."
        )
    return {wnid: i for i, wnid in enumerate(names)}


def imagenet_val(root: str | Path, mapping: str | Path | None = None) -> ImageFolder:
    """The ImageNet validation images of ``root/<wnid>/<image>``, 3×224×224 in [0, 1].

    Args:
        root: the folder of class folders.
        mapping: a mapping file; default: one of :data:`MAPPING_FILES` in ``root`` or its
            parent when present, else the sorted WordNet ids.

    Raises:
        FileNotFoundError, ValueError: a wrong layout or label mapping (see
            :func:`imagenet_labels`).
    """
    root = Path(root)
    if mapping is None:
        found = [f / name for f in (root, root.parent) for name in MAPPING_FILES]
        mapping = next((f for f in found if f.is_file()), None)
    if not root.is_dir():
        raise FileNotFoundError(f"ImageNet folder {root} is not a folder.")
    folders = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    labels = imagenet_labels(folders, mapping)
    return ImageFolder(root, IMAGENET_TRANSFORM, labels, mode="RGB")
