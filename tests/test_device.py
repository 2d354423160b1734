"""advkit on any device: every attack of the catalog, evaluate, certify and a training step.

Each test body runs on ``cpu`` and on ``cuda``; the ``cuda`` cases skip, saying so, where
no GPU is present. On the CPU, :func:`test_nothing_is_created_on_a_fixed_device` runs every
attack with ``meta`` as PyTorch's default device while the model and inputs stay on the
CPU: a tensor advkit created without ``device=`` would land on ``meta`` and fail the run,
so the test proves every tensor follows the inputs' device without needing a GPU.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import IBP, L0, L1, L2, PGD, GradientNormDetector, Linf
from advkit.attacks import catalog
from advkit.defenses.training import PGDTraining
from advkit.engine import Attack
from advkit.engine.rng import generator, stream
from advkit.threat import ThreatModel
from conftest import TinyCNN
from test_invariants import CHEAP, build

pytestmark = pytest.mark.usefixtures("single_thread")

NO_GPU = "no CUDA GPU on this machine: the cuda cases run where torch.cuda.is_available()"
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)),
]
THREATS: dict[str, ThreatModel] = {"linf": Linf(0.05), "l2": L2(0.3), "l1": L1(1.5), "l0": L0(3)}


def model_and_batch(device: str, n: int = 6) -> tuple[nn.Module, Tensor, Tensor]:
    """The tiny CNN on ``device`` and a batch labelled with its own predictions, but the
    last sample (misclassified)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = TinyCNN().eval().to(device)
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    y[-1] = (y[-1] + 1) % 10
    return model, x, y


def method_for(name: str, model: nn.Module, x: Tensor) -> Attack:
    """The attack ``name`` with its cheap settings (EvadeDetector guarding ``model``)."""
    options = CHEAP[name].options
    if name == "evade-detector":
        detector = GradientNormDetector(model)
        detector.calibrate(torch.rand(40, *x.shape[1:], generator=torch.Generator()).to(x))
        return advkit.EvadeDetector(detector, **options)
    return build(name, **options)


def norms_of(name: str) -> tuple[str, ...]:
    cls = catalog.ATTACKS[name].info if name in catalog.ATTACKS else catalog.CLASSES[name].info
    return cls.norms


ALL_ATTACKS = sorted(CHEAP)


def test_every_catalog_attack_is_covered() -> None:
    assert set(catalog.ATTACKS) <= set(ALL_ATTACKS)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ALL_ATTACKS)
def test_attack_on_device(name: str, device: str) -> None:
    """The result lives on the inputs' device, and no parameter gets a gradient."""
    model, x, y = model_and_batch(device)
    method = method_for(name, model, x)
    res = advkit.attack(model, x, y, THREATS[norms_of(name)[0]], method, seed=0)
    for t in (res.x_adv, res.success, res.distance, res.queries, res.gradient_calls):
        assert t.device == x.device
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", ALL_ATTACKS)
def test_nothing_is_created_on_a_fixed_device(name: str) -> None:
    """With ``meta`` as the default device and everything else on the CPU, a tensor made
    without ``device=`` lands on ``meta`` and breaks the run (meta tensors hold no data)."""
    model, x, y = model_and_batch("cpu")
    method = method_for(name, model, x)
    for norm in norms_of(name):
        with torch.device("meta"):
            res = advkit.attack(model, x, y, THREATS[norm], method, seed=0)
        assert res.x_adv.device == x.device


@pytest.mark.parametrize("name", ALL_ATTACKS)
def test_float64_model_and_inputs_stay_float64(name: str) -> None:
    """No attack hard-codes float32: a float64 model on float64 inputs is attacked in
    float64."""
    model, x, y = model_and_batch("cpu")
    model, x = model.double(), x.double()
    res = advkit.attack(model, x, y, THREATS[norms_of(name)[0]], method_for(name, model, x))
    assert res.x_adv.dtype == res.distance.dtype == res.logits.dtype == torch.float64


SMALL_SUITE = [("pgd", PGD(steps=2, restarts=1))]


def test_evaluate_creates_nothing_on_a_fixed_device() -> None:
    model, x, y = model_and_batch("cpu")
    with torch.device("meta"):
        ev = advkit.evaluate(model, (x, y), Linf(0.05), SMALL_SUITE, progress=False)
        est = advkit.evaluate(
            model, (x[:2], y[:2]), L2(0.3), SMALL_SUITE, progress=False, estimates=True,
            checks=False,
        )  # fmt: skip
    assert ev.n == 6 and est.n == 2


def test_certify_and_training_create_nothing_on_a_fixed_device() -> None:
    model, x, y = model_and_batch("cpu")
    with torch.device("meta"):
        cert = advkit.certify(model, x, y, Linf(0.01), advkit.CROWN())
        history = advkit.train(copy.deepcopy(model), (x, y), PGDTraining(steps=2), Linf(0.05),
                               epochs=1, batch_size=4, progress=False)  # fmt: skip
    assert cert.certified.shape == (6,) and len(history) == 1


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_on_device(device: str) -> None:
    model, x, y = model_and_batch(device)
    ev = advkit.evaluate(model, (x, y), Linf(0.05), SMALL_SUITE, progress=False, eps_curve=[0.1])
    assert ev.n == 6 and ev.robust_accuracy <= ev.clean_accuracy
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_certify_on_device(device: str) -> None:
    model, x, y = model_and_batch(device)
    for method in (advkit.IBP(), advkit.CROWN()):
        res = advkit.certify(model, x, y, Linf(0.001), method)
        assert res.certified.shape == (6,) and not bool(res.certified[-1])


@pytest.mark.parametrize("device", DEVICES)
def test_one_training_step_on_device(device: str) -> None:
    model, x, y = model_and_batch(device)
    before = [p.detach().clone() for p in model.parameters()]
    history = advkit.train(
        model, (x, y), PGDTraining(steps=2), Linf(0.05), epochs=1, batch_size=6, progress=False
    )
    assert len(history) == 1 and all(p.device == x.device for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
@pytest.mark.parametrize("threat", [Linf(0.05), L2(0.3), L1(1.5), L0(3)], ids=str)
def test_same_random_draws_on_cpu_and_cuda(threat: ThreatModel) -> None:
    """The per-sample random streams are drawn on the CPU and moved: a random start on
    the GPU is the CPU's, up to float rounding."""
    _, x, _ = model_and_batch("cpu")
    draws = [
        threat.sample(x.to(device), [generator(0, k, stream("start")) for k in range(len(x))])
        for device in ("cpu", "cuda")
    ]
    torch.testing.assert_close(draws[1].cpu(), draws[0], atol=1e-6, rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_same_examples_on_cpu_and_cuda_up_to_float_tolerance() -> None:
    """A deterministic attack gives the same examples on the GPU up to float tolerance
    (its kernels round differently, TF32 convolutions included)."""
    results = []
    for device in ("cpu", "cuda"):
        model, x, y = model_and_batch(device)
        results.append(advkit.attack(model, x, y, L2(0.3), advkit.FGM(), seed=0).x_adv.cpu())
    torch.testing.assert_close(results[1], results[0], atol=1e-3, rtol=1e-3)


def test_model_and_inputs_on_different_devices_is_a_clear_error() -> None:
    model, x, y = model_and_batch("cpu")
    elsewhere = copy.deepcopy(model).to("meta")
    with pytest.raises(ValueError, match="the model is on meta but the inputs are on cpu"):
        advkit.attack(elsewhere, x, y, Linf(0.05), PGD(steps=1))
    with pytest.raises(ValueError, match=r"y is on meta but x is on cpu"):
        advkit.evaluate(model, (x, y.to("meta")), Linf(0.05), SMALL_SUITE, progress=False)
    with pytest.raises(ValueError, match="the model is on meta but the inputs are on cpu"):
        advkit.certify(elsewhere, x, y, Linf(0.01), IBP())


def test_training_on_data_of_another_device_is_a_clear_error() -> None:
    model, x, y = model_and_batch("cpu")
    with pytest.raises(ValueError, match="the model is on meta but the inputs are on cpu"):
        advkit.train(copy.deepcopy(model).to("meta"), (x, y), epochs=1, progress=False)


def test_smoothing_detectors_and_target_cases_create_nothing_on_a_fixed_device() -> None:
    from advkit.certify.smoothing import Smoothing, smoothed_certify
    from advkit.distortion import target_cases

    model, x, y = model_and_batch("cpu")
    detector = GradientNormDetector(model)
    with torch.device("meta"):
        smooth = smoothed_certify(model, x[:2], Smoothing(n0=4, n=16, batch=8))
        detector.calibrate(x, fpr=0.2)
        flagged = detector.detect(x)
        cases = target_cases(model, x[:2], y[:2], Linf(0.05), advkit.FGM(), num_classes=10)
    assert smooth.radius.device == flagged.device == cases.best.x_adv.device == x.device


def test_load_model_puts_the_model_on_the_device_asked() -> None:
    from advkit.models import load_model

    model = load_model("advkit.demo:digits_cnn", device="meta")
    assert all(p.device.type == "meta" for p in model.parameters()) and not model.training


def test_mip_creates_nothing_on_a_fixed_device() -> None:
    model, x, y = model_and_batch("cpu", n=2)
    with torch.device("meta"):
        res = advkit.certify(model, x, y, Linf(0.001), advkit.MIP(time_limit=5.0))
    assert res.certified.shape == (2,)
