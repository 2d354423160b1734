"""Named pretrained classifiers from the robustness literature.

Problem solved: evaluating robustness needs real models with known clean, empirical and
certified accuracies. :data:`MODELS` describes published checkpoints (architecture,
input normalization, dataset, published numbers); :func:`load_registry_model` builds one
as an ``nn.Module`` that takes images in [0, 1] (normalization is its first layer, see
:class:`~advkit.models.normalize.Normalize`). :func:`advkit.models.load_model` loads
these and every other kind of model.

Checkpoints are never bundled with advkit. A registry model's file is looked up, in
order, at ``checkpoint=``, under ``$ADVKIT_SHARED_DATA``, or under ``../shared/data``
relative to the current folder, at the path given by :attr:`ModelSpec.checkpoint`. Every
file is read with ``torch.load(..., weights_only=True)``.

Example:
    >>> from advkit.models import MODELS, load_model
    >>> MODELS["lenet5-pgd"].dataset
    'mnist'
    >>> model = load_model("lenet5-pgd")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType

from torch import nn

from advkit.models.architectures import (
    cnn_small,
    eran_conv_small,
    fc_3layer,
    kw_small,
    lenet5,
    mlp,
    oval_base,
    resnet2b,
)
from advkit.models.checkpoint import load_state_dict_file, load_weights
from advkit.models.normalize import Normalize

__all__ = ["MODELS", "ModelSpec", "load_registry_model", "shared_data_dir"]

logger = logging.getLogger(__name__)

SHARED_DATA_ENV = "ADVKIT_SHARED_DATA"

_CIFAR_MEAN = (0.4914, 0.4822, 0.4465)


@dataclass(frozen=True)
class ModelSpec:
    """A published pretrained classifier.

    Attributes:
        name: registry name, e.g. ``"lenet5-pgd"``.
        architecture: zero-argument factory building the network without normalization.
        dataset: name of the dataset in :data:`advkit.data.DATASETS`.
        input_shape: ``(C, H, W)`` of one input image.
        checkpoint: path of the weights relative to the shared data folder.
        description: architecture and training, one line.
        published: published numbers and their source, as text.
        source: paper and repository the checkpoint comes from.
        normalization: ``(mean, std)`` per channel the network was trained with, applied
            as the first layer; ``None`` when it takes raw [0, 1] pixels.
    """

    name: str
    architecture: Callable[[], nn.Module]
    dataset: str
    input_shape: tuple[int, int, int]
    checkpoint: str
    description: str
    published: str
    source: str
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None


def _spec_table(*specs: ModelSpec) -> Mapping[str, ModelSpec]:
    return MappingProxyType({spec.name: spec for spec in specs})


_KW = "Wong & Kolter 2018, github.com/locuslab/convex_adversarial"
_LIRPA = "Xu et al. 2020, github.com/Verified-Intelligence/auto_LiRPA"
_ABCROWN = "Wang et al. 2021, github.com/Verified-Intelligence/alpha-beta-CROWN"
_ADVERTORCH = "Ding et al. 2019, github.com/BorealisAI/advertorch"

MODELS: Mapping[str, ModelSpec] = _spec_table(
    ModelSpec(
        name="lenet5-natural",
        architecture=lenet5,
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/advertorch/mnist_lenet5_clntrained.pt",
        description="LeNet-5, natural training",
        published="none published; PGD-50 L∞ ε=0.3 robust accuracy ≈ 0.2%",
        source=_ADVERTORCH,
    ),
    ModelSpec(
        name="lenet5-pgd",
        architecture=lenet5,
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/advertorch/mnist_lenet5_advtrained.pt",
        description="LeNet-5, PGD adversarial training (Madry et al. recipe), L∞ ε=0.3",
        published="none published; PGD-50 L∞ ε=0.3 robust accuracy ≈ 92.0%",
        source=_ADVERTORCH,
    ),
    ModelSpec(
        name="kw-mnist-0.1",
        architecture=partial(kw_small, 1, 28),
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/convex_adversarial/kw_mnist_eps0.1.pth",
        description="KW-small, certified training (convex outer polytope), L∞ ε=0.1",
        published="clean error 1.8%, PGD error 4.1%, certified error 5.8% at ε=0.1",
        source=_KW,
    ),
    ModelSpec(
        name="kw-fashion-0.1",
        architecture=partial(kw_small, 1, 28),
        dataset="fashion-mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/convex_adversarial/kw_fashion_mnist_eps0.1.pth",
        description="KW-small, certified training (convex outer polytope), L∞ ε=0.1",
        published="clean error 21.73% at ε=0.1",
        source=_KW,
    ),
    ModelSpec(
        name="kw-mnist-0.3-cascade",
        architecture=partial(kw_small, 1, 28),
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/convex_adversarial/scaled_mnist_small_eps0.3_cascade.pth",
        description="KW-small, first model of a certified-training cascade, L∞ ε=0.3",
        published="cascade certified error 0.3364 (checkpoint field 'err')",
        source="Wong et al. 2018 (scaling provable defenses), "
        "github.com/locuslab/convex_adversarial",
    ),
    ModelSpec(
        name="autolirpa-mnist-adv",
        architecture=partial(kw_small, 1, 28),
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/auto_lirpa/mnist_a_adv.pth",
        description="KW-small, adversarial training, L∞ ε=0.3",
        published="none published",
        source=_LIRPA,
    ),
    ModelSpec(
        name="cnn-small",
        architecture=cnn_small,
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/auto_lirpa/mnist_cnn_small.pth",
        description="auto_LiRPA small CNN (2 conv + 2 linear)",
        published="none published",
        source=_LIRPA,
    ),
    ModelSpec(
        name="fc-3layer",
        architecture=fc_3layer,
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/auto_lirpa/mnist_fc_3layer.pth",
        description="auto_LiRPA MLP 784-128-64-10",
        published="none published",
        source=_LIRPA,
    ),
    ModelSpec(
        name="eran-mnist-convsmall",
        architecture=partial(eran_conv_small, 1, 28),
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/alpha_beta_crown/eran_mnist_conv_small_nat.pth",
        description="ERAN ConvSmall, natural training",
        published="checkpoint accuracy 980/1000",
        source="Singh et al. 2019 (ERAN); " + _ABCROWN,
        normalization=((0.1307,), (0.3081,)),
    ),
    ModelSpec(
        name="toy-mnist-2-20",
        architecture=partial(mlp, 784, 20, 10),
        dataset="mnist",
        input_shape=(1, 28, 28),
        checkpoint="models/alpha_beta_crown/toy_mnist_2_20.pth",
        description="MLP 784-20-10, natural training (small enough for exact MIP)",
        published="none published",
        source=_ABCROWN,
    ),
    ModelSpec(
        name="eran-cifar-convsmall-pgd",
        architecture=partial(eran_conv_small, 3, 32),
        dataset="cifar10",
        input_shape=(3, 32, 32),
        checkpoint="models/alpha_beta_crown/eran_cifar_conv_small_pgd.pth",
        description="ERAN ConvSmall, PGD adversarial training (usual ε=2/255)",
        published="checkpoint accuracy 630/1000",
        source="Singh et al. 2019 (ERAN); " + _ABCROWN,
        normalization=(_CIFAR_MEAN, (0.2023, 0.1994, 0.2010)),
    ),
    ModelSpec(
        name="oval-cifar-base",
        architecture=oval_base,
        dataset="cifar10",
        input_shape=(3, 32, 32),
        checkpoint="models/alpha_beta_crown/oval_cifar_base_kw.pth",
        description="OVAL base CNN, certified (Wong-Kolter) training, L∞ ε=2/255",
        published="checkpoint certified error 0.5454 (field 'err')",
        source="Lu & Kumar 2020 (OVAL); " + _ABCROWN,
        normalization=((0.485, 0.456, 0.406), (0.225, 0.225, 0.225)),
    ),
    ModelSpec(
        name="resnet2b-cifar",
        architecture=resnet2b,
        dataset="cifar10",
        input_shape=(3, 32, 32),
        checkpoint="models/alpha_beta_crown/cifar10_resnet2b_adv.pth",
        description="ResNet-2B, adversarial training, L∞ ε=2/255",
        published="clean 69.25%, PGD 2/255 54.82%, CROWN-verified 2/255 26.88% "
        "(alpha-beta-CROWN README)",
        source="VNN-COMP 2021; " + _ABCROWN,
        normalization=(_CIFAR_MEAN, (0.2471, 0.2435, 0.2616)),
    ),
)


def shared_data_dir() -> Path | None:
    """Locate the optional folder of third-party datasets and checkpoints.

    Returns:
        ``$ADVKIT_SHARED_DATA`` when set (``None`` if that folder does not exist), else
        ``../shared/data`` relative to the current folder when it exists, else ``None``.
    """
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path
        logger.warning("%s=%s is not a folder; ignoring it", SHARED_DATA_ENV, env)
        return None
    default = Path("..", "shared", "data").resolve()
    return default if default.is_dir() else None


def load_registry_model(spec: ModelSpec, checkpoint: str | Path | None = None) -> nn.Module:
    """Build a registry model, load its weights and prepend its normalization.

    Args:
        spec: the model's entry in :data:`MODELS`.
        checkpoint: its weights file (``.pt``/``.pth`` or ``.safetensors``); by default
            looked up in the shared data folder.

    Returns:
        ``nn.Sequential(Normalize(mean, std), net)``, or ``net`` when the model takes raw
        pixels (not yet in eval mode).

    Raises:
        FileNotFoundError: the checkpoint cannot be found (the message says where to put it).
        ValueError: the weights do not fit the architecture.
    """
    path = _registry_checkpoint(spec, checkpoint)
    net = spec.architecture()
    load_weights(net, load_state_dict_file(path), str(path), spec.name)
    if spec.normalization is None:
        return net
    mean, std = spec.normalization
    return nn.Sequential(Normalize(mean, std), net)


def _registry_checkpoint(spec: ModelSpec, checkpoint: str | Path | None) -> Path:
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} for model {spec.name!r} does not exist.")
        return path
    root = shared_data_dir()
    if root is not None and (root / spec.checkpoint).is_file():
        return root / spec.checkpoint
    where = f"{root / spec.checkpoint} does not exist" if root else "no shared data folder"
    raise FileNotFoundError(
        f"checkpoint of model {spec.name!r} not found ({where}). advkit does not ship "
        f"third-party weights: pass checkpoint='.../{Path(spec.checkpoint).name}', set "
        f"{SHARED_DATA_ENV} to the folder holding {spec.checkpoint}, or run from a folder "
        "whose ../shared/data holds it."
    )
