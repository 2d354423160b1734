"""The invariants every attack must satisfy (DESIGN.md), as one parametrized table.

Every attack × every threat model (plus targeted variants and per-sample ε) on the tiny CNN,
with few steps:

1. ``x_adv`` lies in the ball and the box;
2. ``success`` is the criterion re-evaluated on ``model(x_adv)``;
3. gradient calls stay within the attack's nominal maximum, are spent in full on samples
   that stay robust, and are zero for samples that needed no attack;
4. the caller's tensors, the global RNG, every module's ``.training`` flag and the
   parameters are untouched;
5. best-so-far: more steps or more restarts never turn a success into a failure;
6. determinism: same seed, same result; a sample's result does not depend on its batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import (
    APGD,
    APGDT,
    BIM,
    CW,
    DLR,
    EAD,
    FGM,
    JSMA,
    L0,
    L1,
    L2,
    LBFGS,
    PGD,
    DeepFool,
    Linf,
    MinimalEps,
)
from advkit.attacks.adaptive import BPDA, EOT
from advkit.attacks.noise import RandomNoise
from advkit.objectives import is_successful
from advkit.result import AttackResult
from advkit.threat import ThreatModel

pytestmark = pytest.mark.usefixtures("single_thread")

N = 12
TOL = 1e-5


@dataclass(frozen=True)
class Case:
    name: str
    method: Any
    max_grads: int  # nominal maximum of gradient calls per sample (0: a label-only attack)
    targeted: bool = False


ATTACKS = [
    Case("fgm", FGM(), 1),
    Case("bim", BIM(steps=6), 6),
    Case("pgd", PGD(steps=5, restarts=2), 5 * 2),
    Case("apgd", APGD(steps=5, restarts=2), (5 + 1) * 2),
    Case("apgd-dlr", APGD(steps=5, loss=DLR()), 5 + 1),
    Case("apgdt", APGDT(steps=3, target_classes=3, restarts=2), (3 + 1) * 3 * 2),
    Case("fgm-targeted", FGM(), 1, targeted=True),
    Case("bim-targeted", BIM(steps=6), 6, targeted=True),
    Case("pgd-targeted", PGD(steps=5, restarts=2), 5 * 2, targeted=True),
    Case("apgd-targeted", APGD(steps=5, restarts=2), (5 + 1) * 2, targeted=True),
    Case("apgd-dlr-targeted", APGD(steps=5, loss=DLR()), 5 + 1, targeted=True),
    Case("noise", RandomNoise(samples=8), 0),
    Case("noise-targeted", RandomNoise(samples=8), 0, targeted=True),
    Case("bpda-pgd", BPDA(PGD(steps=3, restarts=1)), 3),
    Case("eot-bim", EOT(BIM(steps=2), samples=2), 2 * 2),
]

THREATS: dict[str, ThreatModel] = {
    "linf": Linf(0.05),
    "l2": L2(0.3),
    "l1": L1(1.5),
    "linf-per-sample": Linf(torch.linspace(0.0, 0.08, N)),
    "l2-per-sample": L2(torch.linspace(0.05, 0.6, N)),
    "l0-per-sample": L0(torch.arange(N, dtype=torch.float32)),  # k = 0, 1, ..., 11
}


@dataclass
class Batch:
    model: nn.Module
    x: Tensor
    y: Tensor
    target: Tensor


def make_batch(model: nn.Module, x: Tensor) -> Batch:
    """Labels = the model's predictions, except the last two samples (misclassified).

    Targets differ from the labels; the last sample's target is its prediction, so the
    targeted attacks find it already successful.
    """
    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    y = pred.clone()
    y[-2:] = (pred[-2:] + torch.tensor([3, 7])) % 10
    target = (pred + 1 + torch.arange(N) % 9) % 10
    target[-1] = pred[-1]
    target[-2] = (pred[-2] + 5) % 10
    assert not bool((target == y).any())
    return Batch(model, x, y, target)


@pytest.fixture
def batch(tiny_cnn: nn.Module, tiny_batch: tuple[Tensor, Tensor]) -> Batch:
    return make_batch(tiny_cnn, tiny_batch[0])


def run(b: Batch, case: Case, threat: ThreatModel, seed: int = 3, **kw: Any) -> AttackResult:
    target = b.target if case.targeted else None
    return advkit.attack(b.model, b.x, b.y, threat, case.method, target=target, seed=seed, **kw)


def eps_of(threat: ThreatModel, n: int) -> Tensor:
    if isinstance(threat.eps, Tensor):
        return threat.eps.double()
    return torch.full((n,), float(threat.eps), dtype=torch.float64)


def lp_norm(threat: ThreatModel, d: Tensor) -> Tensor:
    if threat.name == "l0":
        return (d.reshape(d.shape[0], -1) != 0).sum(dim=1).double()
    order = {"linf": float("inf"), "l2": 2.0, "l1": 1.0}[threat.name]
    return torch.linalg.vector_norm(d.reshape(d.shape[0], -1).double(), ord=order, dim=1)


def training_flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


# ----- the table ---------------------------------------------------------------------------


def table(f: Any) -> Any:
    """Parametrize over every attack case × every threat model."""
    f = pytest.mark.parametrize("case", ATTACKS, ids=[c.name for c in ATTACKS])(f)
    return pytest.mark.parametrize("threat_name", list(THREATS))(f)


@table
def test_attack_invariants(batch: Batch, case: Case, threat_name: str) -> None:
    threat = THREATS[threat_name]
    model = batch.model
    model.conv.train()  # mixed .training flags (root in eval mode: no warning)
    flags = training_flags(model)
    params = [p.detach().clone() for p in model.parameters()]
    x_in, y_in, t_in = batch.x.clone(), batch.y.clone(), batch.target.clone()
    rng = torch.get_rng_state()

    res = run(batch, case, threat)

    # (4) nothing of the caller's changed
    assert torch.equal(batch.x, x_in) and torch.equal(batch.y, y_in)
    assert torch.equal(batch.target, t_in)
    assert torch.equal(torch.get_rng_state(), rng)
    assert training_flags(model) == flags
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params, strict=True))
    assert all(p.grad is None for p in model.parameters())
    model.conv.eval()

    # (1) in the ball and the box
    eps = eps_of(threat, N)
    assert res.x_adv.shape == batch.x.shape and res.x_adv.dtype == batch.x.dtype
    dist = lp_norm(threat, res.x_adv - batch.x)
    assert bool((dist <= eps + TOL).all()), (dist - eps).max()
    assert float(res.x_adv.min()) >= threat.lo - TOL
    assert float(res.x_adv.max()) <= threat.hi + TOL
    torch.testing.assert_close(res.distance.double(), dist, atol=1e-6, rtol=1e-5)

    # (2) success is the criterion on model(x_adv)
    target = batch.target if case.targeted else None
    with torch.no_grad():
        logits = model(res.x_adv)
    torch.testing.assert_close(res.logits, logits)
    assert torch.equal(res.success, is_successful(logits, batch.y, target))

    # (3) gradient calls: nominal maximum, spent in full on robust samples, none when unneeded
    with torch.no_grad():
        clean = model(batch.x)
    needed = ~is_successful(clean, batch.y, target)
    grads = res.gradient_calls
    assert bool((grads <= case.max_grads).all()), grads
    assert case.max_grads == 0 or bool((grads[needed] > 0).all()), grads
    assert bool((grads[~needed] == 0).all()), grads
    assert bool((grads[needed & ~res.success] == case.max_grads).all()), grads
    assert bool((res.queries >= grads).all())

    # samples that needed no attack come back untouched and successful
    assert bool(res.success[~needed].all())
    assert bool((res.distance[~needed] == 0).all())
    assert torch.equal(res.x_adv[~needed], batch.x[~needed])


@table
def test_attack_is_deterministic_and_batch_independent(
    batch: Batch, case: Case, threat_name: str
) -> None:
    threat = THREATS[threat_name]
    full = run(batch, case, threat)
    again = run(batch, case, threat)
    assert torch.equal(full.x_adv, again.x_adv)
    assert torch.equal(full.success, again.success)
    assert torch.equal(full.gradient_calls, again.gradient_calls)

    # The same samples in another batch, each keeping its dataset index, get the same
    # result. Not bit for bit: PyTorch's CPU kernels round differently for a batch of one
    # row (GEMV) than for several (GEMM), which moves x_adv by ~1e-8.
    rows = torch.arange(6)
    part = Batch(batch.model, batch.x[rows], batch.y[rows], batch.target[rows])
    alone = run(part, case, threat.select(rows), index=rows)
    torch.testing.assert_close(alone.x_adv, full.x_adv[rows], atol=1e-5, rtol=0)
    assert torch.equal(alone.success, full.success[rows])
    assert torch.equal(alone.gradient_calls, full.gradient_calls[rows])

    # the whole batch shuffled
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(5))
    shuffled = Batch(batch.model, batch.x[perm], batch.y[perm], batch.target[perm])
    moved = run(shuffled, case, threat.select(perm), index=perm)
    torch.testing.assert_close(moved.x_adv, full.x_adv[perm], atol=1e-5, rtol=0)
    assert torch.equal(moved.success, full.success[perm])
    assert torch.equal(moved.gradient_calls, full.gradient_calls[perm])


@pytest.mark.parametrize("threat_name", ["linf", "l2", "l1"])
def test_seed_changes_random_starts(batch: Batch, threat_name: str) -> None:
    threat = THREATS[threat_name]
    case = Case("pgd", PGD(steps=2, restarts=1), 2)
    a = run(batch, case, threat, seed=0)
    b = run(batch, case, threat, seed=1)
    assert not torch.equal(a.x_adv, b.x_adv)


def test_apgdt_refuses_a_given_target(batch: Batch) -> None:
    with pytest.raises(ValueError, match="chooses its own target"):
        run(batch, Case("apgdt", APGDT(steps=2), 3, targeted=True), Linf(0.05))


# ----- best-so-far: more work never makes a result worse -----------------------------------

LONGER = [
    ("pgd-steps", PGD(steps=4, restarts=1, rel_step=0.2), PGD(steps=12, restarts=1, rel_step=0.2)),
    ("bim-steps", BIM(steps=4, rel_step=0.2), BIM(steps=12, rel_step=0.2)),
    ("pgd-restarts", PGD(steps=4, restarts=1), PGD(steps=4, restarts=4)),
    ("apgd-restarts", APGD(steps=4, restarts=1), APGD(steps=4, restarts=4)),
]


# targeted attacks need larger radii to hit a given class
TARGETED_THREATS: dict[str, ThreatModel] = {
    "linf": Linf(0.12),
    "l2": L2(0.8),
    "l1": L1(3.0),
    "linf-per-sample": Linf(torch.linspace(0.0, 0.2, N)),
}


def monotone_threat(threat_name: str, targeted: bool) -> ThreatModel:
    return TARGETED_THREATS[threat_name] if targeted else THREATS[threat_name]


@pytest.mark.parametrize("targeted", [False, True], ids=["untargeted", "targeted"])
@pytest.mark.parametrize("threat_name", list(TARGETED_THREATS))
@pytest.mark.parametrize(("label", "short", "long"), LONGER, ids=[c[0] for c in LONGER])
def test_more_steps_or_restarts_never_lose_a_success(
    batch: Batch, label: str, short: Any, long: Any, threat_name: str, targeted: bool
) -> None:
    threat = monotone_threat(threat_name, targeted)
    a = run(batch, Case(label, short, 0, targeted), threat)
    b = run(batch, Case(label, long, 0, targeted), threat)
    assert bool((b.success >= a.success).all()), (a.success, b.success)
    if "restarts" in label:
        # later restarts run only on samples the first one left unbroken
        first = a.success
        assert torch.equal(b.x_adv[first], a.x_adv[first])


@pytest.mark.parametrize("targeted", [False, True], ids=["untargeted", "targeted"])
def test_the_monotonicity_settings_are_not_vacuous(batch: Batch, targeted: bool) -> None:
    """The settings above break some attacked samples but not all, and the longer run
    breaks more than the shorter one somewhere (otherwise (5) would prove nothing)."""
    short_total = long_total = 0
    for threat_name in TARGETED_THREATS:
        threat = monotone_threat(threat_name, targeted)
        label, short, long = LONGER[1]
        a = run(batch, Case(label, short, 0, targeted), threat)
        b = run(batch, Case(label, long, 0, targeted), threat)
        attacked = slice(0, N - 2)
        assert int(b.success[attacked].sum()) < N - 2, threat_name
        short_total += int(a.success[attacked].sum())
        long_total += int(b.success[attacked].sum())
    assert 0 < short_total < long_total


def test_per_sample_eps_zero_leaves_the_sample_alone(batch: Batch) -> None:
    threat = THREATS["linf-per-sample"]
    assert float(eps_of(threat, N)[0]) == 0.0
    for case in ATTACKS:
        res = run(batch, case, threat)
        assert torch.equal(res.x_adv[0], batch.x[0]), case.name


def test_targeted_success_means_hitting_the_target(batch: Batch) -> None:
    res = run(batch, Case("pgd", replace(PGD(), steps=10, restarts=1), 10, True), L2(1.5))
    pred = res.logits.argmax(dim=1)
    assert bool(res.success.any())
    assert torch.equal(res.success, pred == batch.target)


# ----- minimal-distortion attacks ----------------------------------------------------------

MINIMAL = [
    Case("cw", CW(steps=4, search_steps=2, initial_const=10.0, lr=0.1), 4 * 2),
    Case("cw-projected", CW(steps=4, search_steps=2, initial_const=10.0, tanh=False), 4 * 2),
    Case("ead", EAD(steps=4, search_steps=2, initial_const=10.0), 4 * 2),
    Case(
        "ead-l1-tanh",
        EAD(steps=4, search_steps=2, initial_const=10.0, lr=0.1, rule="l1", optimizer="tanh-adam"),
        4 * 2,
    ),
    Case(
        "cw-targeted",
        CW(steps=4, search_steps=2, initial_const=10.0, lr=0.1),
        4 * 2,
        targeted=True,
    ),
    Case("deepfool", DeepFool(steps=3, candidates=4), 3 * 3),
    Case("lbfgs", LBFGS(steps=4, search_steps=2, initial_const=1.0), 2 * (4 + 20)),
    Case("bim-min", MinimalEps(BIM(steps=3), search_steps=3), 3 * 4),
    Case("pgd-min-targeted", MinimalEps(PGD(steps=2, restarts=2), search_steps=2), 4 * 3, True),
    Case("deepfool-targeted", DeepFool(steps=10), 10, targeted=True),
    Case("ead-targeted", EAD(steps=4, search_steps=2, initial_const=10.0), 4 * 2, targeted=True),
    # JSMA on 64 features: two gradient calls per pair of features
    Case("jsma", JSMA(), 64),
    Case("jsma-decrease-2-candidates", JSMA(theta=-1.0, candidates=2), 2 * 64),
    Case("jsma-targeted", JSMA(gamma=0.25), 2 * 8, targeted=True),
]

MINIMAL_THREATS: dict[str, ThreatModel] = {
    "linf": THREATS["linf"],
    "l1": THREATS["l1"],
    "l2-per-sample": THREATS["l2-per-sample"],
    "l2-unbounded": L2(math.inf),
    "l0": L0(torch.arange(N, dtype=torch.float32)),  # k = 0, 1, ..., 11
    "l0-unbounded": L0(math.inf),
}


def minimal_table(f: Any) -> Any:
    f = pytest.mark.parametrize("case", MINIMAL, ids=[c.name for c in MINIMAL])(f)
    return pytest.mark.parametrize("threat_name", list(MINIMAL_THREATS))(f)


@minimal_table
def test_minimal_attack_invariants(batch: Batch, case: Case, threat_name: str) -> None:
    """(1), (2), (4) and (6) as above; gradient calls within the maximum, none when unneeded
    (a sample may stop a round early, so robust samples need not spend the maximum)."""
    threat = MINIMAL_THREATS[threat_name]
    if case.name.startswith("deepfool") and threat.name in ("l1", "l0"):
        pytest.skip("DeepFool is L2/L∞ only (refusing L1 is tested in test_minimal_attacks)")
    if case.name.startswith("jsma") != (threat.name == "l0"):
        pytest.skip("JSMA is the L0 attack (refusing other norms is tested in test_jsma)")
    model = batch.model
    model.conv.train()
    flags = training_flags(model)
    x_in, rng = batch.x.clone(), torch.get_rng_state()
    res = run(batch, case, threat)
    assert torch.equal(batch.x, x_in) and torch.equal(torch.get_rng_state(), rng)
    assert training_flags(model) == flags
    model.conv.eval()

    eps = eps_of(threat, N)
    dist = lp_norm(threat, res.x_adv - batch.x)
    assert bool((dist <= eps + TOL).all())
    assert float(res.x_adv.min()) >= threat.lo - TOL and float(res.x_adv.max()) <= threat.hi + TOL
    target = batch.target if case.targeted else None
    with torch.no_grad():
        logits = model(res.x_adv)
    assert torch.equal(res.success, is_successful(logits, batch.y, target))
    with torch.no_grad():
        needed = ~is_successful(model(batch.x), batch.y, target)
    grads = res.gradient_calls
    assert bool((grads <= case.max_grads).all()) and bool((grads[~needed] == 0).all())
    assert bool((grads[needed & (eps > 0)] > 0).all())
    assert bool((res.distance[~needed] == 0).all())
    if threat.bounded is False:
        assert bool(res.success[needed].any())  # the unbounded search breaks something

    rows = torch.arange(6)
    part = Batch(batch.model, batch.x[rows], batch.y[rows], batch.target[rows])
    alone = run(part, case, threat.select(rows), index=rows)
    torch.testing.assert_close(alone.x_adv, res.x_adv[rows], atol=1e-5, rtol=0)
    assert torch.equal(alone.success, res.success[rows])


# ----- score- and label-only attacks -------------------------------------------------------

BUDGET = 300
HSJ_SMALL = advkit.HopSkipJump(steps=4, init_evals=20, max_evals=40)

BLACK_BOX = [
    Case("boundary", advkit.Boundary(steps=40, init_samples=20), 0),
    Case("boundary-targeted", advkit.Boundary(steps=40, init_samples=20), 0, targeted=True),
    Case("hopskipjump", HSJ_SMALL, 0),
    Case("hopskipjump-targeted", HSJ_SMALL, 0, targeted=True),
    Case("one-pixel", advkit.OnePixel(pixels=2, population=20, generations=8), 0),
    Case("square", advkit.Square(queries=60), 0),
    Case("zoo", advkit.ZOO(steps=3, search_steps=2, coordinates=8), 0),
]

BLACK_BOX_THREATS: dict[str, ThreatModel] = {
    "linf": Linf(0.1),
    "l2-per-sample": L2(torch.linspace(0.0, 1.0, N)),
    "l2-unbounded": L2(math.inf),
}


def black_box_table(f: Any) -> Any:
    f = pytest.mark.parametrize("case", BLACK_BOX, ids=[c.name for c in BLACK_BOX])(f)
    return pytest.mark.parametrize("threat_name", list(BLACK_BOX_THREATS))(f)


@black_box_table
def test_black_box_attack_invariants(batch: Batch, case: Case, threat_name: str) -> None:
    """(1), (2), (3) queries within the budget and no gradient, (4) and (6)."""
    threat = BLACK_BOX_THREATS[threat_name]
    name = case.name.split("-")[0]
    if name == "square" and not threat.bounded:
        pytest.skip("Square is a fixed-ε attack")
    if name == "zoo" and case.targeted:
        pytest.skip("not in the table")
    model = batch.model
    model.conv.train()
    flags = training_flags(model)
    x_in, rng = batch.x.clone(), torch.get_rng_state()
    labels_only = case.method.describe().access == advkit.access.Access.LABELS
    oracle = advkit.LabelOnly(model, BUDGET) if labels_only else None
    oracle = oracle or advkit.ScoreOnly(model, BUDGET)
    target = batch.target if case.targeted else None

    def go(b: Batch, th: ThreatModel, **kw: Any) -> AttackResult:
        o = type(oracle)(b.model, BUDGET)
        tgt = b.target if case.targeted else None
        return advkit.attack(o, b.x, b.y, th, case.method, target=tgt, seed=3, **kw)

    res = go(batch, threat)
    assert torch.equal(batch.x, x_in) and torch.equal(torch.get_rng_state(), rng)
    assert training_flags(model) == flags
    assert all(p.grad is None for p in model.parameters())
    model.conv.eval()

    eps = eps_of(threat, N)
    dist = lp_norm(threat, res.x_adv - batch.x)
    assert bool((dist <= eps + TOL).all())
    assert float(res.x_adv.min()) >= threat.lo - TOL and float(res.x_adv.max()) <= threat.hi + TOL
    with torch.no_grad():
        logits = model(res.x_adv)
        needed = ~is_successful(model(batch.x), batch.y, target)
    assert torch.equal(res.success, is_successful(logits, batch.y, target))
    assert bool((res.queries <= BUDGET).all()) and bool((res.queries >= 1).all())
    assert bool((res.gradient_calls == 0).all())
    assert bool((res.distance[~needed] == 0).all())
    if not case.targeted and not threat.bounded and name != "zoo":
        assert bool(res.success[needed].any())  # the unbounded search breaks something

    rows = torch.arange(6)
    part = Batch(batch.model, batch.x[rows], batch.y[rows], batch.target[rows])
    alone = go(part, threat.select(rows), index=rows)
    torch.testing.assert_close(alone.x_adv, res.x_adv[rows], atol=1e-5, rtol=0)
    assert torch.equal(alone.success, res.success[rows])
    assert torch.equal(alone.queries, res.queries[rows])
