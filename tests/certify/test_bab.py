"""Branch and bound: sound and complete against exact MIP, stronger than α-CROWN, honest
at the time limit, helped by β, registered as a certifier and closing the sandwich."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit.access import Access
from advkit.certify import CERTIFIERS, MIP, AlphaCROWN, BaB
from advkit.certify.bab import verify_box
from advkit.certify.bab_attack import row_values
from advkit.certify.bounds import crown_bounds
from advkit.certify.box_set import BoxSet
from advkit.certify.graph import trace
from advkit.certify.milp import encode
from advkit.certify.mip import solve
from advkit.certify.task import margin_spec
from advkit.cli.certify import make_certifier
from advkit.data import load_dataset
from advkit.engine import Attack, AttackInfo, Problem
from advkit.models import load_model
from shared_data import requires_shared_data, shared_path

pytestmark = pytest.mark.usefixtures("single_thread")


def mlp(d: int, h: int, seed: int, classes: int = 3) -> nn.Module:
    """A random two-hidden-layer ReLU MLP."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, classes)
    ).eval()


def instance(d: int, seed: int, n: int) -> tuple[nn.Module, Tensor, Tensor]:
    net = mlp(d, 8, seed)
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(100 + seed))
    with torch.no_grad():
        y = net(x).argmax(1)
    return net, x, y


def box_problem(
    x: Tensor, y: Tensor, eps: float, classes: int = 3
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The margins of one sample as a box problem (lower, upper, spec, offset)."""
    others = [j for j in range(classes) if j != int(y[0])]
    spec = margin_spec(y, classes)[:, others]
    return (x - eps).clamp(0, 1), (x + eps).clamp(0, 1), spec, torch.zeros(1, len(others))


@pytest.mark.parametrize(("d", "seed", "eps", "split_dims"), [(6, 1, 0.3, 0), (2, 4, 0.2, 10)])
def test_bab_agrees_with_exact_mip(d: int, seed: int, eps: float, split_dims: int) -> None:
    """ReLU splits (6 inputs) and input splits (2 inputs): every verdict is MIP's."""
    net, x, y = instance(d, seed, 6)
    threat = advkit.Linf(eps)
    mip = advkit.certify(net, x, y, threat, MIP(time_limit=20)).status()
    bab = advkit.certify(net, x, y, threat, BaB(time_limit=20, input_split_dims=split_dims))
    assert "unknown" not in mip
    assert bab.status() == mip
    assert {"certified", "attacked"} <= set(mip), "the instances mix both answers"


@dataclass(frozen=True, eq=False)
class Measured:
    """One batch of 6 samples (6 inputs, ε = 0.3) with exact MIP's and α-CROWN's answers."""

    net: nn.Module
    x: Tensor
    y: Tensor
    mip: advkit.CertResult
    alpha: advkit.CertResult


EPS = 0.3


@pytest.fixture(scope="module")
def measured() -> Measured:
    net, x, y = instance(6, 1, 6)
    threat = advkit.Linf(EPS)
    mip = advkit.certify(net, x, y, threat, MIP(time_limit=20))
    return Measured(net, x, y, mip, advkit.certify(net, x, y, threat, AlphaCROWN()))


def test_bab_certifies_what_alpha_crown_cannot(measured: Measured) -> None:
    m = measured
    beyond = m.mip.certified & ~m.alpha.certified
    assert beyond.any(), "measured: α-CROWN leaves robust samples uncertified here"
    bab = advkit.certify(
        m.net, m.x[beyond], m.y[beyond], advkit.Linf(EPS), BaB(time_limit=20, input_split_dims=0)
    )
    assert bab.certified.all()
    assert (bab.lower > m.alpha.lower[beyond]).all()


def test_time_limit_returns_unknown_never_a_guess(measured: Measured) -> None:
    m = measured
    hard = (m.mip.certified & ~m.alpha.certified).nonzero()[0]
    method = BaB(time_limit=1e-4, input_split_dims=0)
    res = advkit.certify(m.net, m.x[hard], m.y[hard], advkit.Linf(EPS), method)
    assert res.status() == ["unknown"]
    assert float(res.lower[0]) <= 0


def test_beta_multipliers_need_fewer_domains(measured: Measured) -> None:
    m = measured
    s = int((~m.alpha.certified & m.mip.certified).nonzero()[1])
    problem = box_problem(m.x[s : s + 1], m.y[s : s + 1], EPS)
    with_beta = verify_box(m.net, *problem, BaB(time_limit=10, input_split_dims=0))
    without = verify_box(m.net, *problem, BaB(time_limit=1, input_split_dims=0, beta=False))
    assert with_beta.status == "certified"
    assert with_beta.domains < without.domains


def test_counterexamples_are_real_points_of_the_box(measured: Measured) -> None:
    s = int(measured.mip.attacked.nonzero()[0])
    x, y, net = measured.x[s : s + 1], measured.y[s : s + 1], measured.net
    lower, upper, spec, offset = box_problem(x, y, EPS)
    res = verify_box(net, lower, upper, spec, offset, BaB(time_limit=10, input_split_dims=0))
    assert res.status == "falsified" and res.counterexample is not None
    point = res.counterexample[None]
    assert ((point >= lower) & (point <= upper)).all()
    with torch.no_grad():
        assert row_values(net, point, spec, offset).min() < 0
    assert (res.lower <= 0).any()


def test_bab_is_a_registered_certifier_with_a_time_limit() -> None:
    assert CERTIFIERS["bab"] is BaB
    assert make_certifier("bab", 3.0) == BaB(time_limit=3.0)
    with pytest.raises(ValueError, match="L∞"):
        advkit.certify(
            mlp(2, 4, 0), torch.rand(1, 2), torch.zeros(1, dtype=torch.long),
            advkit.L2(0.1), BaB(),
        )  # fmt: skip
    with pytest.raises(ValueError, match="time_limit"):
        BaB(time_limit=0)


@dataclass(frozen=True)
class _Clean(Attack):
    """Returns the clean inputs (the weakest attack)."""

    info = AttackInfo("clean", "the clean inputs", Access.LABELS)

    def run(self, problem: Problem) -> Tensor:
        return problem.x0.clone()


def test_the_sandwich_closes_with_bab(measured: Measured) -> None:
    """Certified + attacked = all samples, even with an attack that finds nothing."""
    from advkit.evaluate.sandwich import sandwich

    net, x, y = measured.net, measured.x, measured.y
    threat = advkit.Linf(EPS)
    ev = advkit.evaluate(net, (x, y), threat, [("clean", _Clean())], progress=False, checks=False)
    (row,) = sandwich(ev, net, (x, y), threat, BaB(time_limit=20, input_split_dims=0))
    assert row.certified + row.attacked == 6
    assert row.unknown == 0 and row.attacked > 0


def max_row_minimum(
    net: nn.Module, lower: Tensor, upper: Tensor, spec: Tensor, offset: Tensor
) -> float:
    """Exact min over the box of max_k spec_k·f(x) + offset_k, by MILP (epigraph t)."""
    graph = trace(net, lower)
    with torch.no_grad():
        pre = crown_bounds(graph, BoxSet(lower, upper))
    wide = {
        i: (lo[0].reshape(-1).double().numpy() - 1e-4, hi[0].reshape(-1).double().numpy() + 1e-4)
        for i, (lo, hi) in pre.items()
    }
    prog = encode(graph, wide, lower[0].double().numpy(), upper[0].double().numpy())
    t = prog.add_variables([-np.inf], [np.inf], [0])
    for coef, d in zip(spec[0].double().numpy(), offset[0].tolist(), strict=True):
        row, const = prog.output_row(coef)
        row[t] = -1.0
        prog.add_row(row, -np.inf, -const - d)
    obj = np.zeros(prog.nv)
    obj[t] = 1.0
    status, value, _ = solve(prog, obj, [], 20.0)
    assert status == "optimal"
    return value


@pytest.mark.parametrize(
    ("seed", "margin", "split_dims"), [(1, 0.02, 10), (1, -0.02, 0), (2, 0.05, 0)]
)
def test_any_row_properties_agree_with_exact_milp(
    seed: int, margin: float, split_dims: int
) -> None:
    """A property that holds where *some* row is positive (a VNN-LIB disjunct of several
    output constraints), its exact minimum set to ``margin``: BaB answers by its sign."""
    net = mlp(5, 8, seed)
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(3)  # unstable ReLUs over the box
    lower = torch.rand(1, 5, generator=torch.Generator().manual_seed(seed)) * 0.5
    upper = lower + 0.5
    spec = torch.tensor([[[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]]])
    base = max_row_minimum(net, lower, upper, spec, torch.zeros(1, 2))
    offset = torch.full((1, 2), margin - base)
    method = BaB(time_limit=20, input_split_dims=split_dims)
    res = verify_box(net, lower, upper, spec, offset, method, any_row=True)
    assert res.status == ("certified" if margin > 0 else "falsified")


def test_fully_split_subdomains_are_solved_exactly() -> None:
    """The minimum over all activation patterns of the finisher's LP values is the exact
    MILP minimum, and every empty pattern is recognized."""
    import itertools

    from advkit.certify.bab_domains import ReluLayout, clipped_bounds
    from advkit.certify.bab_lp import solve_fixed

    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1)).eval()
    lower, upper = torch.zeros(1, 3), torch.ones(1, 3)
    spec, offset = torch.ones(1, 1, 1), torch.zeros(1, 1)
    graph = trace(net, lower)
    layout = ReluLayout.of(graph)
    with torch.no_grad():
        pre = crown_bounds(graph, BoxSet(lower, upper))
        values = []
        for signs in itertools.product((1, -1), repeat=layout.size):
            splits = torch.tensor([signs], dtype=torch.int8)
            boxes = clipped_bounds(pre, layout, splits, 1)
            res = solve_fixed(graph, layout, boxes, lower, upper, splits, spec, offset)
            values.append(res.value)
    exact = max_row_minimum(net, lower, upper, spec, offset)
    assert min(values) == pytest.approx(exact, abs=1e-5)
    assert any(v == float("inf") for v in values), "some patterns are infeasible"


def test_a_network_without_relu_is_decided_exactly_like_the_linear_certifier() -> None:
    """Nothing to split: the root bound is exact on an affine model, so BaB's verdicts are
    the closed-form ones (certified, or a counterexample) and none is unknown."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4)).eval()
    x = torch.rand(12, 6, generator=torch.Generator().manual_seed(4))
    y = net(x).argmax(1)
    threat = advkit.Linf(0.08)
    exact = advkit.certify(net, x, y, threat, advkit.LinearExact())
    bab = advkit.certify(net, x, y, threat, BaB(time_limit=5))
    assert bab.certified.tolist() == exact.certified.tolist()
    assert 0 < int(exact.certified.sum()) < 12
    assert "unknown" not in list(bab.status())


@requires_shared_data
def test_on_the_shared_toy_mnist_mlp_branch_and_bound_agrees_with_mip() -> None:
    """Real data: the registry's 784-20-10 MLP on the first 8 MNIST test images at L∞ 0.05
    (measured: MIP certifies some and breaks some); BaB decides each sample as MIP does."""
    model = load_model("toy-mnist-2-20")
    folder = shared_path("datasets/mnist/t10k-images-idx3-ubyte.gz").parent
    x, y = load_dataset("mnist", data_dir=folder, limit=8)
    threat = advkit.Linf(0.05)
    exact = advkit.certify(model, x, y, threat, MIP(time_limit=30))
    bab = advkit.certify(model, x, y, threat, BaB(time_limit=30))
    assert list(bab.status()) == list(exact.status())
    assert {"certified", "attacked"} <= set(exact.status())
