"""Transfer attacks: craft on models you own, use against a model you cannot see into.

- **No-box** (:class:`Transfer`): run a white-box attack on an ensemble of surrogate
  models (their logits summed, or their log-probabilities summed) and hand the result to
  the target without a single query. The C&W/EAD confidence κ is the transferability
  knob: examples that clear the surrogates' margin by κ survive the change of model more
  often (Carlini & Wagner 2017; Chen et al. 2018). Liu, Chen, Liu & Song, "Delving into
  transferable adversarial examples and black-box attacks", ICLR 2017 (ensembles).
- **Black-box by substitute** (:func:`train_substitute`): label a small seed set (150
  images in the paper) through :class:`~advkit.access.LabelOnly` queries, train a
  substitute on it, grow the set by Jacobian-based dataset augmentation
  ``x + λ·sign(∇ₓ F_sub(x)[O(x)])`` (λ = 0.1) and retrain, for ``rounds`` substitute
  epochs; every label query is counted. Then transfer FGSM or C&W (κ = 20) crafted on the
  substitute with :class:`Transfer`. Papernot, McDaniel, Goodfellow, Jha, Celik & Swami,
  "Practical black-box attacks against machine learning", AsiaCCS 2017.

Example:
    >>> import torch, advkit
    >>> owned = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> target = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    >>> t = advkit.Transfer(sources=(owned,), attack=advkit.FGM())
    >>> res = advkit.attack(advkit.LabelOnly(target), x, y, advkit.Linf(0.1), t)
    >>> res.queries.tolist()  # nothing asked of the target
    [0, 0, 0, 0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.access import Access, LabelOnly, WhiteBox
from advkit.engine import Attack, AttackInfo, Problem
from advkit.engine.rng import generator, mix, stream

__all__ = ["Ensemble", "Substitute", "Transfer", "train_substitute"]

_COMBINE = ("logits", "log-probs")


class Ensemble(nn.Module):
    """Surrogates combined into one classifier: summed logits or summed log-probabilities.

    Summed log-probabilities make cross-entropy on the ensemble the sum of the members'
    cross-entropy losses up to a normalizer shared by all classes.

    Args:
        members: the surrogate models (each maps the same inputs to (N, K) logits).
        combine: ``"logits"`` or ``"log-probs"``.
    """

    def __init__(self, members: tuple[nn.Module, ...], combine: str = "logits") -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one surrogate model")
        if combine not in _COMBINE:
            raise ValueError(f"combine must be one of {_COMBINE}, got {combine!r}")
        self.members = nn.ModuleList(members)
        self.combine = combine

    def forward(self, x: Tensor) -> Tensor:
        outs = [m(x) for m in self.members]
        if self.combine == "log-probs":
            outs = [o.log_softmax(dim=1) for o in outs]
        return torch.stack(outs).sum(dim=0)


@dataclass(frozen=True)
class Transfer(Attack):
    """No-box transfer: ``attack`` run white-box on an ensemble of ``sources``.

    Args:
        sources: surrogate models the attacker owns (not the target).
        attack: a white-box attack, e.g. ``FGM()``, ``PGD()``, ``CW(kappa=20)``.
        combine: ``"logits"`` (default) or ``"log-probs"`` (see :class:`Ensemble`).

    The target model is never queried (``queries`` stay 0): ``advkit.attack`` only
    re-checks success on the target after the attack. Accepts ``eps=inf`` exactly when
    the inner attack is a minimal-distortion one.
    """

    sources: tuple[nn.Module, ...]
    attack: Attack
    combine: str = "logits"

    info = AttackInfo(
        "transfer",
        "no-box transfer: attack a substitute model, replay its examples on the target",
        Access.LABELS,
        listed=False,
    )

    def __post_init__(self) -> None:
        if not isinstance(self.sources, tuple) or not all(
            isinstance(m, nn.Module) for m in self.sources
        ):
            raise TypeError("sources must be a tuple of torch.nn.Module surrogates")
        if not self.sources:
            raise ValueError("Transfer needs at least one surrogate model in sources")
        if self.combine not in _COMBINE:
            raise ValueError(f"combine must be one of {_COMBINE}, got {self.combine!r}")

    def describe(self) -> AttackInfo:
        inner = self.attack.describe()
        return replace(self.info, minimal=inner.minimal, norms=inner.norms)

    def run(self, problem: Problem) -> Tensor:
        ensemble = Ensemble(self.sources, self.combine)
        ensemble.training = False  # the session puts the members in eval mode and restores
        surrogate = WhiteBox(ensemble).fresh(int(problem.rows.max()) + 1, problem.x0.device)
        with surrogate.session():
            return self.attack.run(problem.with_oracle(surrogate))


@dataclass(frozen=True)
class Substitute:
    """A substitute trained from label queries (what :func:`train_substitute` returns).

    Attributes:
        model: the trained substitute (eval mode).
        label_queries: labels asked of the target in total.
        sizes: the substitute training set's size at each substitute epoch.
        agreement: fraction of the final training set on which the substitute agrees
            with the target's labels.
    """

    model: nn.Module
    label_queries: int
    sizes: list[int] = field(default_factory=list)
    agreement: float = math.nan


def _label(oracle: LabelOnly, x: Tensor, batch: int) -> Tensor:
    fresh = oracle.fresh(x.shape[0], x.device)
    out = []
    with fresh.session():
        for s in range(0, x.shape[0], batch):
            rows = torch.arange(s, min(s + batch, x.shape[0]), device=x.device)
            out.append(fresh.labels(x[rows], rows))
    return torch.cat(out)


def _fit(
    model: nn.Module, x: Tensor, y: Tensor, lr: float, batch: int, shuffles: list[torch.Generator]
) -> None:
    """Train for one pass per generator, each shuffling the data its own way."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for g in shuffles:
        perm = torch.randperm(x.shape[0], generator=g, device=g.device)
        for s in range(0, x.shape[0], batch):
            idx = perm[s : s + batch]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


def _jacobian_step(
    model: nn.Module, x: Tensor, y: Tensor, lam: float, lo: float, hi: float
) -> Tensor:
    """x + λ·sign(∂F_sub(x)[y]/∂x), clipped to the box."""
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(xg).gather(1, y[:, None]).sum()
        (grad,) = torch.autograd.grad(out, xg)
    return (x + lam * grad.sign()).clamp(lo, hi)


def train_substitute(
    target: nn.Module | LabelOnly,
    seed_x: Tensor,
    architecture: Callable[[], nn.Module],
    *,
    rounds: int = 5,
    lam: float = 0.1,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 128,
    box: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> Substitute:
    """Train a substitute of ``target`` from its labels only (Papernot et al. 2017).

    Substitute epoch ρ: label the new points through the oracle, train the substitute for
    ``epochs`` passes on everything labeled so far, then add
    ``x + λ_ρ·sign(∇ₓ F_sub(x)[label])`` for every point (the set doubles). λ flips sign
    every 3 substitute epochs (the paper's periodic step size) so the points do not run
    off to the box's corners.

    Args:
        target: the model (wrapped as ``LabelOnly``) or a ``LabelOnly`` oracle; only its
            top-1 labels are used, and every label costs one query (the oracle's budget
            applies per labeling batch).
        seed_x: the attacker's seed inputs (S, ...), e.g. 150 held-out test images.
        architecture: builds a fresh substitute model (its initialization draws from a
            forked RNG seeded by ``seed``; the global RNG is untouched).
        rounds: substitute epochs ρ (default 5: 150 seeds grow to 2400 labeled points).
        lam: the augmentation step λ (default 0.1).
        epochs: training passes per substitute epoch (default 10).
        lr: Adam's learning rate (default 1e-3).
        batch_size: minibatch size for training and labeling (default 128).
        box: the input domain (default [0, 1]).
        seed: seeds the initialization and the shuffles (named streams of
            :mod:`advkit.engine.rng`).

    Returns:
        A :class:`Substitute` with the model and the number of label queries spent.
    """
    if rounds < 1 or epochs < 1 or not lam > 0:
        raise ValueError("need rounds >= 1, epochs >= 1 and lam > 0")
    if seed_x.dim() < 2 or seed_x.shape[0] < 1:
        raise ValueError(f"seed_x must be a batch (S, ...) of inputs, got {tuple(seed_x.shape)}")
    oracle = target if isinstance(target, LabelOnly) else LabelOnly(target)
    # torch layers initialize from the global RNG (their constructors take no generator):
    # fork it, so the caller's RNG is untouched, and seed it from the named stream
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(mix(seed, stream("substitute-init")))
        model = architecture()
    data = seed_x.detach().clone()
    labels = _label(oracle, data, batch_size)
    queries = data.shape[0]
    sizes = []
    for rho in range(rounds):
        sizes.append(data.shape[0])
        shuffles = [generator(seed, stream("substitute-order", rho, e)) for e in range(epochs)]
        _fit(model, data, labels, lr, batch_size, shuffles)
        if rho == rounds - 1:
            break
        step = lam if (rho // 3) % 2 == 0 else -lam
        new = torch.cat(
            [
                _jacobian_step(
                    model, data[s : s + batch_size], labels[s : s + batch_size], step, *box
                )
                for s in range(0, data.shape[0], batch_size)
            ]
        )
        new_labels = _label(oracle, new, batch_size)
        queries += new.shape[0]
        data, labels = torch.cat([data, new]), torch.cat([labels, new_labels])
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        agree = float((model(data).argmax(dim=1) == labels).float().mean())
    return Substitute(model=model, label_queries=queries, sizes=sizes, agreement=agree)
