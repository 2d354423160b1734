"""Safe reader for the CIFAR-10 "python version" batches.

Problem solved: the official CIFAR-10 distribution (Krizhevsky 2009,
https://www.cs.toronto.edu/~kriz/cifar.html) stores its batches as Python pickles, and
``pickle.load`` on a downloaded file can run arbitrary code. This module reads them with
:class:`RestrictedUnpickler`, which resolves only the few numpy globals needed to rebuild
an ``ndarray`` and refuses everything else, so a tampered file fails with
``pickle.UnpicklingError`` instead of executing code.

Batches are read from the extracted ``cifar-10-batches-py`` folder or directly from the
``cifar-10-python.tar.gz`` tarball (without extracting it). Each batch is a dict with
``data`` (N×3072 uint8: the red, green then blue 32×32 planes of each image) and
``labels`` (N ints in 0..9).

Example:
    >>> from advkit.data.cifar import read_cifar10
    >>> x, y = read_cifar10("cifar-10-python.tar.gz", "test")  # doctest: +SKIP
    >>> x.shape, x.dtype, y.shape  # doctest: +SKIP
    ((10000, 3, 32, 32), dtype('uint8'), (10000,))
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, cast

import numpy as np

from advkit.data.download import RemoteFile

__all__ = [
    "CIFAR10_BATCH_SHA256",
    "CIFAR10_CLASSES",
    "CIFAR10_TARBALL",
    "RestrictedUnpickler",
    "cifar10_files",
    "load_cifar_batch",
    "read_cifar10",
    "restricted_loads",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

CIFAR10_TARBALL = RemoteFile(
    "cifar-10-python.tar.gz",
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
)

# SHA-256 of each batch file inside the official tarball (its extracted folder).
CIFAR10_BATCH_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "data_batch_1": "54636561a3ce25bd3e19253c6b0d8538147b0ae398331ac4a2d86c6d987368cd",
        "data_batch_2": "766b2cef9fbc745cf056b3152224f7cf77163b330ea9a15f9392beb8b89bc5a8",
        "data_batch_3": "0f00d98ebfb30b3ec0ad19f9756dc2630b89003e10525f5e148445e82aa6a1f9",
        "data_batch_4": "3f7bb240661948b8f4d53e36ec720d8306f5668bd0071dcb4e6c947f78e9682b",
        "data_batch_5": "d91802434d8376bbaeeadf58a737e3a1b12ac839077e931237e0dcd43adcb154",
        "test_batch": "f53d8d457504f7cff4ea9e021afcf0e0ad8e24a91f3fc42091b8adef61157831",
    }
)

_FOLDER = "cifar-10-batches-py"
_SPLIT_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

_RECONSTRUCT = cast("Callable[..., Any]", np.empty(0, dtype=np.uint8).__reduce__()[0])

# The only globals a pickled uint8 ndarray needs, under their numpy 1.x ("numpy.core",
# used by the official Python 2 pickles) and numpy 2.x ("numpy._core") module names.
_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays, dicts, lists, strings and numbers only.

    ``find_class`` returns one of ``numpy.ndarray``, ``numpy.dtype`` or numpy's array
    reconstruction function, and raises ``pickle.UnpicklingError`` for any other global
    (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...). Python 2 pickles such as
    the official CIFAR-10 batches need ``encoding="bytes"``.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allowed numpy global; refuse everything else.

        Raises:
            pickle.UnpicklingError: ``module.name`` is not one of the allowed globals.
        """
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global {module}.{name}: advkit's restricted unpickler "
                "only rebuilds numpy arrays; the file is not a genuine CIFAR batch or has "
                "been tampered with."
            )
        return allowed


def restricted_loads(data: bytes) -> Any:
    """Unpickle bytes with :class:`RestrictedUnpickler` (``encoding="bytes"``)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def load_cifar_batch(
    file: IO[bytes],
    source: str = "<batch>",
    labels_key: str = "labels",
    num_classes: int = len(CIFAR10_CLASSES),
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python batch safely (CIFAR-10, or CIFAR-100 with its own key).

    Args:
        file: binary file object positioned at the start of the pickle.
        source: name used in error messages.
        labels_key: the key of the labels: ``"labels"`` (CIFAR-10) or ``"fine_labels"``
            (CIFAR-100).
        num_classes: labels must lie in ``0..num_classes-1``.

    Returns:
        ``(x, y)``: x uint8 of shape (N, 3, 32, 32) (channel planes R, G, B), y int64 (N,).

    Raises:
        pickle.UnpicklingError: the pickle references a forbidden global.
        ValueError: the content is not a CIFAR-10 batch (keys, shapes, dtypes, labels).
    """
    batch = restricted_loads(file.read())
    if not isinstance(batch, dict):
        raise ValueError(f"{source}: expected a dict, got {type(batch).__name__}.")
    data = _get(batch, "data", source)
    labels = _get(batch, labels_key, source)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{source}: 'data' must be a 2-d uint8 array, got {_describe(data)}.")
    if data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{source}: 'data' rows must hold 3072 bytes, got {data.shape[1]}.")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (data.shape[0],):
        raise ValueError(
            f"{source}: {y.size} labels for {data.shape[0]} images; the batch is damaged."
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{source}: labels must lie in 0..{num_classes - 1}, got {y.min()}..{y.max()}."
        )
    return data.reshape(-1, 3, 32, 32), y


def read_cifar10(source: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a CIFAR-10 split from the batches folder or the official tarball.

    Args:
        source: the ``cifar-10-python.tar.gz`` tarball, the ``cifar-10-batches-py`` folder,
            or a folder containing either of them.
        split: ``"train"`` (data_batch_1..5, 50,000 images) or ``"test"`` (test_batch,
            10,000 images).

    Returns:
        ``(x, y)``: x uint8 (N, 3, 32, 32), y int64 (N,), in the official order.

    Raises:
        FileNotFoundError: no batches folder or tarball at ``source``.
        ValueError: unknown split or a malformed batch.
    """
    files = cifar10_files(source, split)
    names = _SPLIT_BATCHES[split]
    if tuple(f.name for f in files) == names:
        return _concat([_read_file(f) for f in files])
    return _read_tarball(files[0], names)


def cifar10_files(source: str | Path, split: str) -> tuple[Path, ...]:
    """The files :func:`read_cifar10` reads for ``split``: its batch files, or the tarball.

    Args:
        source: as for :func:`read_cifar10`.
        split: ``"train"`` or ``"test"``.

    Returns:
        The split's batch files (``data_batch_1`` ... or ``test_batch``) when a batches
        folder holds them all, else the one tarball.

    Raises:
        FileNotFoundError: no batches folder or tarball at ``source``.
        ValueError: unknown split.

    Example:
        >>> from advkit.data.cifar import cifar10_files
        >>> cifar10_files("cifar-10-python.tar.gz", "test")  # doctest: +SKIP
        (PosixPath('cifar-10-python.tar.gz'),)
    """
    if split not in _SPLIT_BATCHES:
        raise ValueError(f"CIFAR-10 split must be one of {sorted(_SPLIT_BATCHES)}, got {split!r}.")
    names = _SPLIT_BATCHES[split]
    source = Path(source)
    if source.is_file():
        return (source,)
    for folder in (source, source / _FOLDER):
        if all((folder / n).is_file() for n in names):
            return tuple(folder / n for n in names)
    tarball = source / "cifar-10-python.tar.gz"
    if tarball.is_file():
        return (tarball,)
    raise FileNotFoundError(
        f"no CIFAR-10 python batches ({', '.join(names)}) found in {source}, "
        f"{source / _FOLDER} or {tarball}. Download cifar-10-python.tar.gz from "
        "https://www.cs.toronto.edu/~kriz/cifar.html and put it (or its extracted "
        f"{_FOLDER} folder) there."
    )


def _read_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open("rb") as f:
        return load_cifar_batch(f, str(path))


def _read_tarball(path: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            base = Path(member.name).name
            if member.isfile() and base in names and base not in parts:
                f = tar.extractfile(member)
                if f is not None:
                    parts[base] = load_cifar_batch(f, f"{path}:{member.name}")
    missing = [n for n in names if n not in parts]
    if missing:
        raise FileNotFoundError(
            f"{path} lacks the CIFAR-10 batches {missing}; is it cifar-10-python.tar.gz?"
        )
    return _concat([parts[n] for n in names])


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _get(batch: dict[Any, Any], key: str, source: str) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise ValueError(f"{source}: missing key {key!r}; not a batch of this CIFAR dataset.")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__
