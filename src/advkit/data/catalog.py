"""The datasets advkit can load, described for listings (``advkit list``) and checks.

Example:
    >>> from advkit.data.catalog import DATASETS
    >>> DATASETS["mnist"].input_shape
    (1, 28, 28)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from advkit.data.cifar import CIFAR10_CLASSES
from advkit.data.cifar100 import CIFAR100_CLASSES

__all__ = ["DATASETS", "DatasetInfo"]

_DIGITS = tuple(str(d) for d in range(10))
_FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset.

    Attributes:
        name: name accepted by :func:`advkit.data.load_dataset`.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: number of classes.
        classes: class names, indexed by label (empty for ImageNet: its labels are the
            sorted WordNet ids, the folder names of a local copy).
        train_size: number of training images.
        test_size: number of test images.
        description: one line for listings.
        source: paper or homepage.
        license: license of the data.
        downloads: whether advkit downloads it (``False``: shipped with a dependency, or
            read from a local copy only).
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    classes: tuple[str, ...]
    train_size: int
    test_size: int
    description: str
    source: str
    license: str
    downloads: bool


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        "digits": DatasetInfo(
            name="digits",
            input_shape=(1, 8, 8),
            num_classes=10,
            classes=_DIGITS,
            train_size=1198,
            test_size=599,
            description="8x8 handwritten digits bundled with scikit-learn (offline)",
            source="Alpaydin & Kaynak 1998, UCI optical recognition of handwritten digits",
            license="CC BY 4.0",
            downloads=False,
        ),
        "mnist": DatasetInfo(
            name="mnist",
            input_shape=(1, 28, 28),
            num_classes=10,
            classes=_DIGITS,
            train_size=60000,
            test_size=10000,
            description="28x28 handwritten digits",
            source="LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/",
            license="CC BY-SA 3.0",
            downloads=True,
        ),
        "fashion-mnist": DatasetInfo(
            name="fashion-mnist",
            input_shape=(1, 28, 28),
            num_classes=10,
            classes=_FASHION,
            train_size=60000,
            test_size=10000,
            description="28x28 Zalando clothing images",
            source="Xiao, Rasul & Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist",
            license="MIT",
            downloads=True,
        ),
        "cifar10": DatasetInfo(
            name="cifar10",
            input_shape=(3, 32, 32),
            num_classes=10,
            classes=CIFAR10_CLASSES,
            train_size=50000,
            test_size=10000,
            description="32x32 color images of 10 object classes",
            source="Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html",
            license="no explicit license; cite Krizhevsky 2009",
            downloads=True,
        ),
        "cifar100": DatasetInfo(
            name="cifar100",
            input_shape=(3, 32, 32),
            num_classes=100,
            classes=CIFAR100_CLASSES,
            train_size=50000,
            test_size=10000,
            description="32x32 color images of 100 object classes (fine labels)",
            source="Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html",
            license="no explicit license; cite Krizhevsky 2009",
            downloads=True,
        ),
        "imagenet": DatasetInfo(
            name="imagenet",
            input_shape=(3, 224, 224),
            num_classes=1000,
            classes=(),
            train_size=1281167,
            test_size=50000,
            description="ImageNet-1k validation set from --data-dir (val/<wnid>/<image>), 224x224",
            source="Russakovsky et al. 2015, https://image-net.org",
            license="ImageNet terms of access (non-commercial research)",
            downloads=False,
        ),
    }
)
