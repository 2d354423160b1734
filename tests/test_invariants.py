"""The invariants every attack must satisfy (DESIGN.md), as parametrized tables.

Every attack × every threat model it declares (plus targeted variants and per-sample ε)
on the tiny CNN, with few steps:

1. ``x_adv`` lies in the ball and the box;
2. ``success`` is the criterion re-evaluated on ``model(x_adv)``;
3. gradient calls stay within the attack's nominal maximum, are spent in full on samples
   that stay robust, and are zero for samples that needed no attack;
4. the caller's tensors, the global RNG, every module's ``.training`` flag and the
   parameters are untouched;
5. best-so-far: more steps or more restarts never turn a success into a failure;
6. determinism: same seed, same result; a sample's result does not depend on its batch.

The tables are generated from the attacks' declared metadata: each attack's cheap settings
are keyed by its catalog name (:data:`CHEAP`), a test fails when an attack of the catalog
(or any attack class declaring ``info``) has no case, the threat models a case runs on are
the norms its ``info`` declares, and a black-box case's oracle is its ``info.access``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import advkit
from advkit import APGD, APGDT, BIM, FGM, L0, L1, L2, PGD, EvadeDetector, GradientNormDetector, Linf
from advkit.access import Access
from advkit.attacks import catalog
from advkit.attacks.adaptive import BPDA, EOT, AttackWrapper
from advkit.attacks.run import check_norm
from advkit.engine import Attack, AttackInfo
from advkit.objectives import is_successful
from advkit.result import AttackResult
from advkit.threat import ThreatModel
from conftest import TinyCNN

pytestmark = pytest.mark.usefixtures("single_thread")

N = 12
TOL = 1e-5

with torch.random.fork_rng(devices=[]):  # the model a transfer attack crafts its examples on
    torch.manual_seed(1)
    SURROGATE = TinyCNN().eval()


@dataclass(frozen=True)
class Cheap:
    """Small settings of one attack and its nominal maximum of gradient calls per sample
    (0: an attack that never asks the model for a gradient)."""

    options: dict[str, Any]
    max_grads: int


CHEAP: dict[str, Cheap] = {
    "fgm": Cheap({}, 1),
    "bim": Cheap({"steps": 6}, 6),
    "pgd": Cheap({"steps": 5, "restarts": 2}, 5 * 2),
    "apgd-ce": Cheap({"steps": 5, "restarts": 2}, (5 + 1) * 2),
    "apgd-dlr": Cheap({"steps": 5}, 5 + 1),
    "apgd-t": Cheap({"steps": 3, "target_classes": 3, "restarts": 2}, (3 + 1) * 3 * 2),
    "noise": Cheap({"samples": 8}, 0),
    "cw": Cheap({"steps": 4, "search_steps": 2, "initial_const": 10.0, "lr": 0.1}, 4 * 2),
    "ead": Cheap({"steps": 4, "search_steps": 2, "initial_const": 10.0}, 4 * 2),
    "deepfool": Cheap({"steps": 3, "candidates": 4}, 3 * 3),
    "fab": Cheap({"steps": 3, "restarts": 2}, 2 * 3 * 9),  # 9 wrong classes per step
    "fab-t": Cheap({"steps": 3, "target_classes": 3, "restarts": 2}, 3 * 2 * 3),
    "lbfgs": Cheap({"steps": 4, "search_steps": 2, "initial_const": 1.0}, 2 * (4 + 20)),
    "fgm-min": Cheap({"search_steps": 3}, 1 * 4),
    "bim-min": Cheap({"attack": BIM(steps=3), "search_steps": 3}, 3 * 4),
    "pgd-min": Cheap({"attack": PGD(steps=2, restarts=2), "search_steps": 2}, 4 * 3),
    "jsma": Cheap({}, 64),  # JSMA on 64 features: two gradient calls per pair of features
    "evade-detector": Cheap(
        {"steps": 4, "search_steps": 2, "initial_const": 10.0, "lr": 0.1}, 4 * 2
    ),
    "boundary": Cheap({"steps": 40, "init_samples": 20}, 0),
    "hopskipjump": Cheap({"steps": 4, "init_evals": 20, "max_evals": 40}, 0),
    "one-pixel": Cheap({"pixels": 2, "population": 20, "generations": 8}, 0),
    "square": Cheap({"queries": 60}, 0),
    "zoo": Cheap({"steps": 3, "search_steps": 2, "coordinates": 8}, 0),
    "transfer": Cheap({"sources": (SURROGATE,), "attack": FGM()}, 0),
}
"""Cheap settings by catalog name (or, for an attack the catalog does not list because it
needs constructor arguments, by its declared ``info.name``)."""


@dataclass(frozen=True)
class Case:
    name: str  # the test id
    attack: str  # the catalog name (or an unlisted attack's declared name)
    method: Any  # the attack, or a function of the attacked model that builds it
    max_grads: int  # nominal maximum of gradient calls per sample (0: a label-only attack)
    targeted: bool = False

    def on(self, model: nn.Module) -> Attack:
        """The attack run against ``model``."""
        return self.method if isinstance(self.method, Attack) else self.method(model)

    @property
    def cls(self) -> type:
        return (
            type(self.method) if isinstance(self.method, Attack) else catalog.CLASSES[self.attack]
        )

    @property
    def info(self) -> AttackInfo:
        return self.method.describe() if isinstance(self.method, Attack) else self.cls.info


def build(name: str, /, **options: Any) -> Attack:
    """The attack ``name`` (a catalog name, else an unlisted class's name) with options."""
    if name in catalog.ATTACKS:
        return catalog.make_attack(name, **options)
    return catalog.CLASSES[name](**options)


def cheap(attack: str, *, targeted: bool = False) -> Case:
    """The case of ``attack`` with its :data:`CHEAP` settings."""
    c = CHEAP[attack]
    name = f"{attack}-targeted" if targeted else attack
    return Case(name, attack, build(attack, **c.options), c.max_grads, targeted)


def plain(method: Attack, targeted: bool = False) -> Case:
    """A case outside the tables: ``method`` as it is."""
    return Case(type(method).__name__, method.describe().name, method, 0, targeted)


def variant(
    name: str, attack: str, max_grads: int, /, *, targeted: bool = False, **options: Any
) -> Case:
    """A case of ``attack`` with other settings than :data:`CHEAP`'s."""
    return Case(name, attack, build(attack, **options), max_grads, targeted)


def guarded(options: dict[str, Any]) -> Callable[[nn.Module], Attack]:
    """EvadeDetector with ``options`` against a gradient-norm detector of the attacked model,
    calibrated on held-out uniform noise (the attack checks that it guards that model)."""

    def on(model: nn.Module) -> Attack:
        detector = GradientNormDetector(model)
        detector.calibrate(torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(9)))
        return EvadeDetector(detector, **options)

    return on


ATTACKS = [
    cheap("fgm"),
    cheap("bim"),
    cheap("pgd"),
    cheap("apgd-ce"),
    cheap("apgd-dlr"),
    cheap("apgd-t"),
    cheap("fgm", targeted=True),
    cheap("bim", targeted=True),
    cheap("pgd", targeted=True),
    cheap("apgd-ce", targeted=True),
    cheap("apgd-dlr", targeted=True),
    cheap("noise"),
    cheap("noise", targeted=True),
    Case("bpda-pgd", "pgd", BPDA(PGD(steps=3, restarts=1)), 3),
    Case("eot-bim", "bim", EOT(BIM(steps=2), samples=2), 2 * 2),
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
    method = case.on(b.model)
    return advkit.attack(b.model, b.x, b.y, threat, method, target=target, seed=seed, **kw)


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


def check_in_ball_and_box(res: AttackResult, b: Batch, threat: ThreatModel) -> None:
    """(1): x_adv in the ball and the box, and the reported distance is its distance."""
    eps = eps_of(threat, N)
    assert res.x_adv.shape == b.x.shape and res.x_adv.dtype == b.x.dtype
    dist = lp_norm(threat, res.x_adv - b.x)
    assert bool((dist <= eps + TOL).all()), (dist - eps).max()
    assert float(res.x_adv.min()) >= threat.lo - TOL
    assert float(res.x_adv.max()) <= threat.hi + TOL
    torch.testing.assert_close(res.distance.double(), dist, atol=1e-6, rtol=1e-5)


def unbroken(b: Batch, case: Case) -> Tensor:
    """Samples the attack must work on: the clean point misses the goal (for EvadeDetector,
    whose goal is also to go unflagged: or the detector flags it)."""
    with torch.no_grad():
        needed = ~is_successful(b.model(b.x), b.y, b.target if case.targeted else None)
    method = case.on(b.model)
    if isinstance(method, EvadeDetector):
        needed |= method.detector.detect(b.x)
    return needed


def check_success(res: AttackResult, b: Batch, case: Case) -> None:
    """(2): success is the criterion re-evaluated on model(x_adv)."""
    target = b.target if case.targeted else None
    with torch.no_grad():
        logits = b.model(res.x_adv)
    torch.testing.assert_close(res.logits, logits)
    assert torch.equal(res.success, is_successful(logits, b.y, target))


def run_checked(
    b: Batch,
    case: Case,
    threat: ThreatModel,
    go: Callable[..., AttackResult],
    others: tuple[nn.Module, ...] = (),
) -> AttackResult:
    """Run with mixed ``.training`` flags and check (4): nothing of the caller's changed
    (the model's and the ``others``' flags, parameters and gradients included), then (1)
    and (2)."""
    modules = [b.model, *others]
    b.model.conv.train()  # mixed .training flags (root in eval mode: no warning)
    flags = [training_flags(m) for m in modules]
    params = [p.detach().clone() for p in b.model.parameters()]
    x_in, y_in, t_in = b.x.clone(), b.y.clone(), b.target.clone()
    rng = torch.get_rng_state()

    res = go(b, case, threat)

    assert torch.equal(b.x, x_in) and torch.equal(b.y, y_in)
    assert torch.equal(b.target, t_in)
    assert torch.equal(torch.get_rng_state(), rng)
    assert [training_flags(m) for m in modules] == flags
    assert all(torch.equal(p, q) for p, q in zip(b.model.parameters(), params, strict=True))
    assert all(p.grad is None for m in modules for p in m.parameters())
    b.model.conv.eval()
    check_in_ball_and_box(res, b, threat)
    check_success(res, b, case)
    return res


# ----- the tables, checked against the catalog ---------------------------------------------


def handles(case: Case, threat: ThreatModel) -> bool:
    """Whether the case's attack declares the threat's norm (and, for ε = inf, is minimal)."""
    return case.info.supports(threat.name) and (threat.bounded or case.info.minimal)


def table(cases: list[Case], threats: dict[str, ThreatModel]) -> Any:
    """Parametrize over every case × every threat model its attack handles."""
    pairs = [(c, t) for c in cases for t, threat in threats.items() if handles(c, threat)]
    ids = [f"{c.name}-{t}" for c, t in pairs]
    return pytest.mark.parametrize(("case", "threat_name"), pairs, ids=ids)


@table(ATTACKS, THREATS)
def test_attack_invariants(batch: Batch, case: Case, threat_name: str) -> None:
    threat = THREATS[threat_name]
    res = run_checked(batch, case, threat, run)

    # (3) gradient calls: nominal maximum, spent in full on robust samples, none when unneeded
    needed = unbroken(batch, case)
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


def check_batch_independent(
    b: Batch, case: Case, threat: ThreatModel, full: AttackResult, go: Callable[..., AttackResult]
) -> None:
    """(6): the first six samples alone, each keeping its dataset index, get the same result.

    Not bit for bit: PyTorch's CPU kernels round differently for a batch of one row (GEMV)
    than for several (GEMM), which moves x_adv by ~1e-8.
    """
    rows = torch.arange(6)
    part = Batch(b.model, b.x[rows], b.y[rows], b.target[rows])
    alone = go(part, case, threat.select(rows), index=rows)
    torch.testing.assert_close(alone.x_adv, full.x_adv[rows], atol=1e-5, rtol=0)
    assert torch.equal(alone.success, full.success[rows])
    assert torch.equal(alone.gradient_calls, full.gradient_calls[rows])
    assert torch.equal(alone.queries, full.queries[rows])


@table(ATTACKS, THREATS)
def test_attack_is_deterministic_and_batch_independent(
    batch: Batch, case: Case, threat_name: str
) -> None:
    threat = THREATS[threat_name]
    full = run(batch, case, threat)
    again = run(batch, case, threat)
    assert torch.equal(full.x_adv, again.x_adv)
    assert torch.equal(full.success, again.success)
    assert torch.equal(full.gradient_calls, again.gradient_calls)
    check_batch_independent(batch, case, threat, full, run)

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
    case = plain(PGD(steps=2, restarts=1))
    a = run(batch, case, threat, seed=0)
    b = run(batch, case, threat, seed=1)
    assert not torch.equal(a.x_adv, b.x_adv)


def test_apgdt_refuses_a_given_target(batch: Batch) -> None:
    with pytest.raises(ValueError, match="chooses its own target"):
        run(batch, plain(APGDT(steps=2), targeted=True), Linf(0.05))


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
    a = run(batch, plain(short, targeted), threat)
    b = run(batch, plain(long, targeted), threat)
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
        _, short, long = LONGER[1]
        a = run(batch, plain(short, targeted), threat)
        b = run(batch, plain(long, targeted), threat)
        attacked = slice(0, N - 2)
        assert int(b.success[attacked].sum()) < N - 2, threat_name
        short_total += int(a.success[attacked].sum())
        long_total += int(b.success[attacked].sum())
    assert 0 < short_total < long_total


def test_per_sample_eps_zero_leaves_the_sample_alone(batch: Batch) -> None:
    threat = THREATS["linf-per-sample"]
    assert float(eps_of(threat, N)[0]) == 0.0
    for case in ATTACKS + TRANSFER:
        res = run(batch, case, threat)
        assert torch.equal(res.x_adv[0], batch.x[0]), case.name


def test_targeted_success_means_hitting_the_target(batch: Batch) -> None:
    res = run(batch, plain(replace(PGD(), steps=10, restarts=1), targeted=True), L2(1.5))
    pred = res.logits.argmax(dim=1)
    assert bool(res.success.any())
    assert torch.equal(res.success, pred == batch.target)


# ----- minimal-distortion attacks ----------------------------------------------------------

MINIMAL = [
    cheap("cw"),
    variant("cw-projected", "cw", 4 * 2, steps=4, search_steps=2, initial_const=10.0, tanh=False),
    cheap("ead"),
    variant(
        "ead-l1-tanh",
        "ead",
        4 * 2,
        steps=4,
        search_steps=2,
        initial_const=10.0,
        lr=0.1,
        rule="l1",
        optimizer="tanh-adam",
    ),
    cheap("cw", targeted=True),
    cheap("deepfool"),
    cheap("lbfgs"),
    cheap("fgm-min"),
    cheap("bim-min"),
    cheap("pgd-min", targeted=True),
    variant("deepfool-targeted", "deepfool", 10, targeted=True, steps=10),
    cheap("fab"),
    cheap("fab", targeted=True),
    cheap("fab-t"),
    variant("fab-refine", "fab", 3 * 9, steps=3, refine=True),
    cheap("ead", targeted=True),
    cheap("jsma"),
    variant("jsma-decrease-2-candidates", "jsma", 2 * 64, theta=-1.0, candidates=2),
    variant("jsma-targeted", "jsma", 2 * 8, targeted=True, gamma=0.25),
    Case(
        "evade-detector",
        "evade-detector",
        guarded(CHEAP["evade-detector"].options),
        CHEAP["evade-detector"].max_grads,
    ),
]

MINIMAL_THREATS: dict[str, ThreatModel] = {
    "linf": THREATS["linf"],
    "l1": THREATS["l1"],
    "l2-per-sample": THREATS["l2-per-sample"],
    "l2-unbounded": L2(math.inf),
    "l0": L0(torch.arange(N, dtype=torch.float32)),  # k = 0, 1, ..., 11
    "l0-unbounded": L0(math.inf),
}


@table(MINIMAL, MINIMAL_THREATS)
def test_minimal_attack_invariants(batch: Batch, case: Case, threat_name: str) -> None:
    """(1), (2), (4) and (6) as above; gradient calls within the maximum, none when unneeded
    (a sample may stop a round early, so robust samples need not spend the maximum)."""
    threat = MINIMAL_THREATS[threat_name]
    res = run_checked(batch, case, threat, run)
    needed = unbroken(batch, case)
    grads, eps = res.gradient_calls, eps_of(threat, N)
    assert bool((grads <= case.max_grads).all()) and bool((grads[~needed] == 0).all())
    assert bool((grads[needed & (eps > 0)] > 0).all())
    assert bool((res.distance[~needed] == 0).all())
    if threat.bounded is False:
        assert bool(res.success[needed].any())  # the unbounded search breaks something
    check_batch_independent(batch, case, threat, res, run)


# ----- score- and label-only attacks -------------------------------------------------------

BUDGET = 300
ORACLES = {Access.LABELS: advkit.LabelOnly, Access.SCORES: advkit.ScoreOnly}

BLACK_BOX = [
    cheap("boundary"),
    cheap("boundary", targeted=True),
    cheap("hopskipjump"),
    cheap("hopskipjump", targeted=True),
    cheap("one-pixel"),
    cheap("square"),
    cheap("zoo"),
]

BLACK_BOX_THREATS: dict[str, ThreatModel] = {
    "linf": Linf(0.1),
    "l2-per-sample": L2(torch.linspace(0.0, 1.0, N)),
    "l2-unbounded": L2(math.inf),
}


def run_on_oracle(b: Batch, case: Case, threat: ThreatModel, **kw: Any) -> AttackResult:
    """Run through the oracle of the access level the attack declares, with a budget."""
    oracle = ORACLES[case.info.access](b.model, BUDGET)
    tgt = b.target if case.targeted else None
    return advkit.attack(oracle, b.x, b.y, threat, case.on(b.model), target=tgt, seed=3, **kw)


@table(BLACK_BOX, BLACK_BOX_THREATS)
def test_black_box_attack_invariants(batch: Batch, case: Case, threat_name: str) -> None:
    """(1), (2), (3) queries within the budget and no gradient, (4) and (6)."""
    threat = BLACK_BOX_THREATS[threat_name]
    res = run_checked(batch, case, threat, run_on_oracle)
    needed = unbroken(batch, case)
    assert bool((res.queries <= BUDGET).all()) and bool((res.queries >= 1).all())
    assert bool((res.gradient_calls == 0).all())
    assert bool((res.distance[~needed] == 0).all())
    if not case.targeted and not threat.bounded and case.attack != "zoo":
        assert bool(res.success[needed].any())  # the unbounded search breaks something
    check_batch_independent(batch, case, threat, res, run_on_oracle)


# ----- no-box transfer ---------------------------------------------------------------------

TRANSFER = [cheap("transfer"), cheap("transfer", targeted=True)]


@table(TRANSFER, THREATS)
def test_transfer_attack_invariants(batch: Batch, case: Case, threat_name: str) -> None:
    """(1), (2), (4) and (6); (3) the target is never asked anything: no query and no
    gradient call (the examples are crafted on the surrogate, on every sample, since the
    attack cannot know which ones the target already gets wrong)."""
    threat = THREATS[threat_name]
    res = run_checked(batch, case, threat, run, others=(SURROGATE,))
    assert bool((res.queries == 0).all()) and bool((res.gradient_calls == 0).all())
    check_batch_independent(batch, case, threat, res, run)


# ----- the tables against the catalog ------------------------------------------------------

TABLES = {"ATTACKS": ATTACKS, "MINIMAL": MINIMAL, "BLACK_BOX": BLACK_BOX, "TRANSFER": TRANSFER}


def test_every_catalogued_or_declared_attack_has_cheap_settings_and_a_case() -> None:
    """A new attack (a catalog entry, or any attack class declaring ``info``) fails here
    until it has cheap settings in CHEAP and a case in one of the tables."""
    declared = set(catalog.ATTACKS) | set(catalog.CLASSES)
    assert not set(catalog.ATTACKS) - set(CHEAP), "add cheap settings to CHEAP"
    assert not set(CHEAP) - declared, "CHEAP names an attack nothing declares"
    cases = [case for cases in TABLES.values() for case in cases]
    missing = sorted(set(catalog.ATTACKS) - {case.attack for case in cases})
    assert not missing, f"catalog attacks without a case in the invariant tables: {missing}"
    classes = {case.cls for case in cases}
    missing = sorted(n for n, cls in catalog.CLASSES.items() if cls not in classes)
    assert not missing, f"attack classes without a case in the invariant tables: {missing}"


@pytest.mark.parametrize(
    ("table_name", "case"),
    [(t, c) for t, cases in TABLES.items() for c in cases],
    ids=[c.name for cases in TABLES.values() for c in cases],
)
def test_each_case_is_its_named_attack_in_the_right_table(table_name: str, case: Case) -> None:
    """A case runs the attack it names (or a wrapper of it), and sits in the table whose
    checks fit its declared metadata (fixed ε or minimal, the access level it needs)."""
    if case.attack in catalog.ATTACKS:
        expected = type(catalog.ATTACKS[case.attack].make())
    else:
        expected = catalog.CLASSES[case.attack]
    wrapped = case.method.attack if isinstance(case.method, AttackWrapper) else None
    assert case.cls is expected or type(wrapped) is expected, case
    info = case.info
    if table_name in ("ATTACKS", "TRANSFER"):
        assert not info.minimal
    if table_name == "MINIMAL":
        assert info.minimal and info.access == Access.WHITE_BOX
    if table_name == "BLACK_BOX":
        assert info.access in ORACLES
    if table_name == "TRANSFER":
        assert info.access == Access.LABELS


NORM_THREATS: dict[str, tuple[ThreatModel, str]] = {
    "linf": (Linf(0.1), "L∞"),
    "l2": (L2(0.5), "L2"),
    "l1": (L1(1.0), "L1"),
    "l0": (L0(3), "L0"),
}


@pytest.mark.parametrize("name", list(catalog.ATTACKS))
def test_attack_refuses_a_norm_its_info_does_not_declare(batch: Batch, name: str) -> None:
    method = catalog.make_attack(name)
    norms = method.describe().norms
    for norm, (threat, pretty) in NORM_THREATS.items():
        if norm in norms:
            check_norm(method, threat)  # accepted
            continue
        with pytest.raises(ValueError, match=f"threats only.*not {pretty}$"):
            advkit.attack(batch.model, batch.x, batch.y, threat, method)
