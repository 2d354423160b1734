"""Every registry model loads from the shared folder and reaches its published clean accuracy.

Expected values: the "clean accuracy measured here" column of the shared data README
(MNIST / Fashion-MNIST: full 10,000-image test sets; CIFAR-10: first100_test.csv).
"""

from __future__ import annotations

import pytest
import torch

from advkit.data import load_dataset
from advkit.models import MODELS, Normalize, load_model
from shared_data import SHARED_DATA, cifar10_first100, requires_shared_data

EXPECTED_ACCURACY = {
    "lenet5-natural": 98.89,
    "lenet5-pgd": 98.64,
    "kw-mnist-0.1": 98.20,
    "kw-fashion-0.1": 78.27,
    "kw-mnist-0.3-cascade": 85.23,
    "autolirpa-mnist-adv": 96.33,
    "cnn-small": 96.69,
    "fc-3layer": 97.52,
    "eran-mnist-convsmall": 98.25,
    "toy-mnist-2-20": 88.39,
    "eran-cifar-convsmall-pgd": 70.0,
    "oval-cifar-base": 73.0,
    "resnet2b-cifar": 77.0,
}
TOLERANCE_PP = 0.15

_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _test_set(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    if dataset not in _cache:
        assert SHARED_DATA is not None
        if dataset == "cifar10":
            _cache[dataset] = cifar10_first100()
        else:
            _cache[dataset] = load_dataset(dataset, data_dir=SHARED_DATA / "datasets")
    return _cache[dataset]


def test_expected_table_covers_registry():
    assert set(EXPECTED_ACCURACY) == set(MODELS)


@requires_shared_data
@pytest.mark.parametrize("name", sorted(MODELS))
def test_clean_accuracy(name: str):
    assert SHARED_DATA is not None
    spec = MODELS[name]
    model = load_model(name, checkpoint=SHARED_DATA / spec.checkpoint)
    assert not model.training
    first_layer = next(model.children())
    assert isinstance(first_layer, Normalize) == (spec.normalization is not None)
    x, y = _test_set(spec.dataset)
    assert tuple(x.shape[1:]) == spec.input_shape
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    accuracy = 100.0 * (pred == y).double().mean().item()
    assert accuracy == pytest.approx(EXPECTED_ACCURACY[name], abs=TOLERANCE_PP)
