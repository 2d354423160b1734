"""Bad input gets a clear error that names the fix, through both entry points
(``advkit.attack`` and ``advkit.evaluate``), never a silent wrong answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import FGM, Linf
from advkit.attacks.noise import RandomNoise
from advkit.validate import check_model_accepts

pytestmark = pytest.mark.usefixtures("single_thread")

SUITE = [("fgm", FGM())]
ENTRIES = ["attack", "evaluate"]


def call(
    entry: str,
    model: nn.Module,
    x: Any,
    y: Any,
    threat: advkit.ThreatModel | None = None,
    target: Tensor | None = None,
) -> Any:
    threat = threat or Linf(0.05)
    if entry == "attack":
        return advkit.attack(model, x, y, threat, FGM(), target=target)
    assert target is None
    return advkit.evaluate(model, (x, y), threat, SUITE, progress=False, batch_size=4)


@pytest.fixture
def data(tiny_cnn: nn.Module) -> tuple[nn.Module, Tensor, Tensor]:
    """Six valid inputs labelled with the model's predictions (so every sample is attacked)."""
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = tiny_cnn(x).argmax(dim=1)
    return tiny_cnn, x, y


Data = tuple[nn.Module, Tensor, Tensor]


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_valid_baseline_runs(entry: str, data: Data) -> None:
    model, x, y = data
    out = call(entry, model, x, y)
    n = out.success.shape[0] if entry == "attack" else out.n
    assert n == 6


# ----- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_input_without_batch_dimension(entry: str, data: Data) -> None:
    model, x, _ = data
    with pytest.raises(ValueError, match=r"batch dimension.*x\[None\]"):
        call(entry, model, x[0, 0, 0], torch.tensor([1]))


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("side", [8, 28])
def test_single_image_passed_as_a_rank_2_tensor(entry: str, data: Data, side: int) -> None:
    # one (side, side) image with its label: x looks like a batch of `side` flat rows
    model, _, _ = data
    image = torch.rand(side, side)
    with pytest.raises(ValueError, match=r"x\[None\]"):
        call(entry, model, image, torch.tensor([3]))
    # with one label per row the model itself rejects the shape
    with pytest.raises(ValueError, match="Check the rank and channel count"):
        call(entry, model, image, torch.zeros(side, dtype=torch.long))


@pytest.mark.parametrize("entry", ENTRIES)
def test_wrong_rank_for_the_model(entry: str, data: Data) -> None:
    # (N, 8, 8) instead of (N, 1, 8, 8): the channel dimension is missing
    model, x, y = data
    with pytest.raises(ValueError, match="Check the rank and channel count"):
        call(entry, model, x[:, 0], y)


@pytest.mark.parametrize("entry", ENTRIES)
def test_wrong_channel_count(entry: str, data: Data) -> None:
    model, x, y = data
    with pytest.raises(ValueError, match=r"cannot process inputs of shape \(3, 8, 8\)"):
        call(entry, model, x.expand(-1, 3, -1, -1).contiguous(), y)


# ----- values and dtypes -------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_values_outside_the_box(entry: str, data: Data) -> None:
    model, x, y = data
    with pytest.raises(ValueError, match=r"outside the input box.*divide 8-bit images by 255"):
        call(entry, model, x * 255, y)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_inputs(entry: str, data: Data, bad: float) -> None:
    model, x, y = data
    x = x.clone()
    x[2, 0, 3, 3] = bad
    with pytest.raises(ValueError, match=r"NaN or inf values \(samples \[2\]\); fix the data"):
        call(entry, model, x, y)


@pytest.mark.parametrize("entry", ENTRIES)
def test_uint8_images(entry: str, data: Data) -> None:
    model, x, y = data
    with pytest.raises(TypeError, match=r"x\.float\(\) / 255"):
        call(entry, model, (x * 255).to(torch.uint8), y)


@pytest.mark.parametrize("entry", ENTRIES)
def test_numpy_arrays_instead_of_tensors(entry: str, data: Data) -> None:
    model, x, y = data
    with pytest.raises(TypeError, match=r"torch\.as_tensor\(x\)"):
        call(entry, model, x.numpy(), y)
    with pytest.raises(TypeError, match=r"torch\.as_tensor\(y\)"):
        call(entry, model, x, y.numpy())


def test_evaluate_needs_a_pair(data: Data) -> None:
    model, x, _ = data
    with pytest.raises(TypeError, match=r"pair \(x, y\)"):
        advkit.evaluate(model, x, Linf(0.1), SUITE, progress=False)  # type: ignore[arg-type]


# ----- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("label", [10, -1])
def test_labels_out_of_range(entry: str, data: Data, label: int) -> None:
    model, x, y = data
    y = y.clone()
    y[1] = label
    with pytest.raises(ValueError, match=r"10 classes \(labels must be in \[0, 9\]\)"):
        call(entry, model, x, y)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("reshape", [lambda y: y[:, None], lambda y: y[:-1], lambda y: y.repeat(2)])
def test_labels_with_the_wrong_shape(
    entry: str, data: Data, reshape: Callable[[Tensor], Tensor]
) -> None:
    model, x, y = data
    with pytest.raises(ValueError, match=r"y must have shape \(6,\) to match x"):
        call(entry, model, x, reshape(y))


@pytest.mark.parametrize("entry", ENTRIES)
def test_float_labels(entry: str, data: Data) -> None:
    model, x, y = data
    with pytest.raises(TypeError, match=r"integer class labels.*y\.long\(\)"):
        call(entry, model, x, y.float())


def test_target_equal_to_the_true_label(data: Data) -> None:
    model, x, y = data
    target = (y + 1) % 10
    target[3] = y[3]
    with pytest.raises(ValueError, match="target must differ from y"):
        call("attack", model, x, y, target=target)


def test_bad_targets(data: Data) -> None:
    model, x, y = data
    with pytest.raises(ValueError, match="target has labels"):
        call("attack", model, x, y, target=torch.full_like(y, 12))
    with pytest.raises(TypeError, match=r"target\.long\(\)"):
        call("attack", model, x, y, target=((y + 1) % 10).float())


# ----- radius ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_negative_eps(entry: str, data: Data) -> None:
    model, x, y = data
    with pytest.raises(ValueError, match=">= 0"):
        call(entry, model, x, y, threat=Linf(-0.1))


def test_negative_eps_in_the_curve(data: Data) -> None:
    model, x, y = data
    with pytest.raises(ValueError, match=">= 0"):
        advkit.evaluate(model, (x, y), Linf(0.1), SUITE, eps_curve=[-0.1], progress=False)


def test_per_sample_eps_of_the_wrong_length(data: Data) -> None:
    model, x, y = data
    with pytest.raises(ValueError, match="5 entries but the batch has 6"):
        call("attack", model, x, y, threat=Linf(torch.full((5,), 0.1)))
    with pytest.raises(ValueError, match="one ε for all samples"):
        call("evaluate", model, x, y, threat=Linf(torch.full((6,), 0.1)))


# ----- the model ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_model_returning_probabilities(entry: str, data: Data) -> None:
    model, x, y = data
    probs = nn.Sequential(model, nn.Softmax(dim=1)).eval()
    with pytest.raises(ValueError, match="needs logits: remove the final softmax"):
        call(entry, probs, x, y)


@pytest.mark.parametrize("entry", ENTRIES)
def test_model_in_training_mode_warns(entry: str, data: Data) -> None:
    model, x, y = data
    model.train()
    with pytest.warns(UserWarning, match=r"training mode.*Call model\.eval\(\)"):
        call(entry, model, x, y)
    assert model.training and all(m.training for m in model.modules())


def test_not_a_model() -> None:
    x = torch.rand(2, 4)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        advkit.attack(lambda t: t, x, torch.tensor([0, 1]), Linf(0.1), FGM())  # type: ignore[arg-type]


def test_numpy_scalar_eps_is_accepted_and_checked(data: Data) -> None:
    model, x, y = data
    res = advkit.attack(model, x, y, Linf(np.float32(0.05)), FGM())  # type: ignore[arg-type]
    assert float(res.distance.max()) <= 0.05 + 1e-6
    with pytest.raises(ValueError, match=">= 0"):
        Linf(np.float32(-0.1))  # type: ignore[arg-type]


def test_values_just_outside_the_box_show_the_real_range(data: Data) -> None:
    model, x, y = data
    x = x.clone()
    x[0, 0, 0, 0] = 1.00001
    with pytest.raises(ValueError, match=r"values in \[\S+, 1\.00001\] outside the input box"):
        call("attack", model, x, y)


# ----- what the model's first forward tells --------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_inputs_are_cast_to_the_models_dtype(entry: str, data: Data) -> None:
    """A float64 model given float32 inputs sees them as float64, at every entry point:
    the answer of inputs passed in float64 (the attack itself works in x's float32)."""
    model, x, y = data
    model = model.double()
    mixed, same = call(entry, model, x, y), call(entry, model, x.double(), y)
    if entry == "attack":
        assert torch.equal(mixed.success, same.success)
        assert mixed.x_adv.dtype == torch.float32
        assert torch.allclose(mixed.x_adv.double(), same.x_adv, atol=1e-6)
    else:
        assert mixed.robust_accuracy == same.robust_accuracy


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_model_of_two_dtypes_is_refused(entry: str, data: Data) -> None:
    _, x, y = data
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16).double(), nn.Linear(16, 10)).eval()
    with pytest.raises(
        TypeError, match="parameters mix float32 and float64; cast the model to one dtype"
    ):
        call(entry, model, x, y)


class Raises(nn.Module):
    """A model whose forward fails for a reason that has nothing to do with shapes."""

    def __init__(self, err: Exception) -> None:
        super().__init__()
        self.err = err
        self.fc = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        raise self.err


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("err", "shown"),
    [(KeyError("conv1"), "KeyError: 'conv1'"), (RuntimeError("CUDA driver"), "RuntimeError: CUDA")],
)
def test_any_failure_of_the_first_forward_is_reported_as_it_is(
    entry: str, data: Data, err: Exception, shown: str
) -> None:
    _, x, y = data
    with pytest.raises(ValueError, match=rf"Raises.*failed on one input.*{shown}") as info:
        call(entry, Raises(err).eval(), x, y)
    assert "rank and channel count" not in str(info.value)
    assert info.value.__cause__ is err


# ----- what is passed as the model, the attack and the curve -------------------------------


@pytest.mark.parametrize("entry", [*ENTRIES, "certify"])
def test_a_plain_function_is_not_a_model(entry: str, data: Data) -> None:
    model, x, y = data
    with pytest.raises(TypeError, match=r"torch\.nn\.Module, got function; wrap"):
        if entry == "certify":
            advkit.certify(lambda t: model(t), x, y, Linf(0.05), advkit.IBP())  # type: ignore[arg-type]
        else:
            call(entry, lambda t: model(t), x, y)  # type: ignore[arg-type]


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_model_class_is_not_a_model(entry: str, data: Data) -> None:
    _, x, y = data
    with pytest.raises(TypeError, match=r"got the class Raises; pass an instance"):
        call(entry, Raises, x, y)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "fix"),
    [("pgd", r"make_attack\('pgd'\)"), (advkit.PGD, r"the class PGD.*PGD\(\)"), (3, "PGD")],
)
def test_an_attack_must_be_a_configured_instance(data: Data, method: Any, fix: str) -> None:
    model, x, y = data
    with pytest.raises(TypeError, match=fix):
        advkit.attack(model, x, y, Linf(0.05), method)
    with pytest.raises(TypeError, match=fix):
        advkit.evaluate(model, (x, y), Linf(0.05), [("mine", method)], progress=False)


@pytest.mark.parametrize("suite", [["pgd"], [("pgd",)], FGM(), [(FGM(), "fgm")]])
def test_a_suite_must_be_a_name_or_named_attacks(data: Data, suite: Any) -> None:
    model, x, y = data
    with pytest.raises(TypeError, match=r"\(name, attack\) pairs such as \[\('pgd', advkit"):
        advkit.evaluate(model, (x, y), Linf(0.05), suite, progress=False)


@pytest.mark.parametrize("curve", ["0.1,0.2", 0.2, [0.1, True], [0.1, "0.2"]])
def test_eps_curve_must_be_a_list_of_numbers(data: Data, curve: Any) -> None:
    model, x, y = data
    with pytest.raises(TypeError, match=r"eps_curve must be a list of numbers such as \[0\.1"):
        advkit.evaluate(model, (x, y), Linf(0.05), SUITE, eps_curve=curve, progress=False)


def test_eps_curve_may_be_any_sequence_of_numbers(data: Data) -> None:
    model, x, y = data
    curve = np.array([0.01, 0.02])
    ev = advkit.evaluate(model, (x, y), Linf(0.05), SUITE, eps_curve=curve, progress=False)  # type: ignore[arg-type]
    assert [e for e, _ in ev.curve] == pytest.approx([0.01, 0.02, 0.05])


class InPlace(nn.Module):
    """Rescales its input in place before the wrapped model sees it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.mul_(0.5))


def test_evaluate_never_changes_the_callers_inputs(data: Data) -> None:
    """A score-only attack never asks for gradients, so the in-place model runs through."""
    model, x, y = data
    before = x.clone()
    with torch.no_grad():
        y = InPlace(model)(x.clone()).argmax(dim=1)
    suite = [("noise", RandomNoise(samples=2))]
    ev = advkit.evaluate(
        InPlace(model).eval(), (x, y), Linf(0.05), suite, progress=False, checks=False
    )
    assert torch.equal(x, before)
    assert ev.clean_accuracy == 1.0


def test_check_model_accepts_names_the_dtypes_it_cannot_mix() -> None:
    """Entry points cast x to the model's dtype; a caller of the check itself is told."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()
    with pytest.raises(TypeError, match=r"float64 but x is float32; use x\.double\(\)"):
        check_model_accepts(model, torch.rand(2, 1, 8, 8))
