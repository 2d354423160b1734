"""``advkit.attack``: run one attack on a batch and return a checked :class:`AttackResult`.

The result's success is the criterion on the model's logits at ``x_adv`` exactly as the
model sees it (:func:`recheck`): where the attack evaluated that very input with the plain
model, its recorded logits are that check; every other row is evaluated again.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advkit.access import AutocastView, Oracle, as_oracle
from advkit.access.output import check_logits
from advkit.access.precision import autocast_dtype, call_model, model_input, working_dtype
from advkit.engine import Attack, Outcome, Problem
from advkit.objectives import is_successful
from advkit.result import AttackResult
from advkit.threat import ThreatModel
from advkit.traits import is_random
from advkit.validate import (
    check_attack,
    check_batch,
    check_labels,
    check_model,
    check_model_accepts,
)

__all__ = ["Attack", "attack", "check_norm", "recheck"]

_PRETTY = {"linf": "L∞", "l2": "L2", "l1": "L1", "l0": "L0"}


def check_norm(method: Attack, threat: ThreatModel) -> None:
    """Refuse a threat model whose norm the attack does not declare in ``info.norms``."""
    norms = method.describe().norms
    if threat.name in norms:
        return
    name, pretty = type(method).__name__, [_PRETTY[n] for n in norms]
    if len(pretty) == 1:
        msg = f"{name} is an {pretty[0]} attack (it attacks {pretty[0]} threats only)"
    else:
        msg = f"{name} attacks {' and '.join(pretty)} threats only; use {' or '.join(pretty)}"
    raise ValueError(f"{msg}, not {_PRETTY.get(threat.name, threat.name)}")


def attack(
    model: nn.Module | Oracle,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    method: Attack,
    *,
    target: Tensor | None = None,
    seed: int = 0,
    index: Tensor | None = None,
    precision: str = "fp32",
) -> AttackResult:
    """Attack ``model`` on the batch (x, y) within ``threat`` using ``method``.

    Args:
        model: a classifier returning logits (white-box), or an access oracle
            (:class:`~advkit.access.ScoreOnly`, :class:`~advkit.access.LabelOnly`) for
            attacks that need less.
        x: inputs (N, ...) in the threat's box (default [0, 1]).
        y: true labels (N,).
        threat: the allowed perturbation set, e.g. ``Linf(8/255)``.
        method: the attack configuration, e.g. ``PGD(steps=100)`` (an instance; build one
            by its ``advkit list`` name with :func:`advkit.attacks.catalog.make_attack`).
        target: target labels (N,) for a targeted attack (success = predicted target);
            None for misclassification.
        seed: seed of every random choice (per sample, with ``index``).
        index: dataset index of each sample (N,), used as the key of its random stream so a
            sample's result does not depend on its batch; default ``arange(N)``.
        precision: ``"fp32"`` (default), or ``"bf16"``/``"fp16"`` to run the model's
            forward and backward under ``torch.autocast`` during the attack; the attack's
            steps, projections and best-so-far records stay in float32, and ``success`` is
            judged on a float32 forward: a low-precision success it does not confirm is
            not a success.

    Returns:
        An :class:`AttackResult` whose ``success`` is re-evaluated on ``model(x_adv)`` and
        whose ``x_adv``, of x's dtype, lies in the ball and the box. The attack works in
        float32 (float64 for float64 inputs) whatever the model's dtype; the model sees
        its inputs cast to its own dtype, and distances are measured in that precision.

    Example:
        >>> import torch, advkit
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
        >>> x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
        >>> advkit.attack(model, x, y, advkit.L2(0.5), advkit.APGD(steps=10)).x_adv.shape
        torch.Size([4, 1, 8, 8])
    """
    check_model(model.model if isinstance(model, Oracle) else model)
    check_batch(x, y, target, lo=threat.lo, hi=threat.hi)
    check_attack(method)
    info = method.describe()
    check_norm(method, threat)
    if not threat.bounded and not info.minimal:
        raise ValueError(
            f"{type(method).__name__} needs a finite eps; eps=inf is only for "
            "minimal-distortion attacks (CW, EAD, DeepFool, MinimalEps, ...)"
        )
    n = x.shape[0]
    threat.radius(x)  # validates per-sample eps length
    if index is None:
        index = torch.arange(n, device=x.device)
    elif index.shape != (n,):
        raise ValueError(f"index must have shape ({n},), got {tuple(index.shape)}")
    low = autocast_dtype(precision)
    oracle = as_oracle(model, info.access, n, x.device)
    attacked = oracle if low is None else oracle.through(AutocastView(low))
    x0 = x.detach().to(working_dtype(x.dtype), copy=True)  # exact: only ever widens
    y = y.detach().long()
    tgt = None if target is None else target.detach().long()
    with oracle.session():
        num_classes = check_model_accepts(oracle.model, model_input(oracle.model, x0))
        check_labels(y, num_classes)
        if tgt is not None:
            check_labels(tgt, num_classes, "target")
            if (tgt == y).any():
                raise ValueError(
                    "target equals the true label for some samples; a target must differ "
                    "from y (e.g. advkit.targets.random_targets), or pass target=None"
                )
        problem = Problem(
            attacked,
            x0,
            y,
            tgt,
            threat,
            torch.arange(n, device=x.device),
            index.long().to(x.device),
            seed,
        )
        outcome = method.solve(problem)
        x_adv = threat.round_to(problem.project(outcome.x.detach()), x0, x.dtype)
        logits = recheck(oracle.model, x_adv, outcome)
    success = is_successful(logits, y, tgt)
    return AttackResult(
        x_adv=x_adv,
        x=x0.to(x.dtype),
        y=y,
        target=tgt,
        success=success,
        distance=threat.norm(x_adv.to(x0.dtype) - x0),
        queries=oracle.queries.clone(),
        gradient_calls=oracle.gradient_calls.clone(),
        logits=logits,
        threat=threat,
        config=method,
    )


@torch.no_grad()
def recheck(model: nn.Module, x_adv: Tensor, outcome: Outcome) -> Tensor:
    """The model's logits at ``x_adv`` (N, K), from which the result's success is judged.

    A row reuses the logits the attack recorded only when they are the plain model's at
    exactly the input the model sees for it: the attack saw the model through no view
    (only then does its outcome carry logits), the model declares no random layer (a fresh
    draw must judge a point, not the draw that picked it; :func:`advkit.traits.is_random`),
    and the row of ``x_adv`` cast to the model's dtype has the bits of the evaluated point.
    Every other row is evaluated again; NaN or inf logits are refused.

    Example:
        >>> import torch
        >>> from advkit.engine import Outcome
        >>> model, x = torch.nn.Linear(3, 2), torch.rand(2, 3)
        >>> known = Outcome(x, torch.zeros(2, 2), torch.tensor([True, False]))
        >>> recheck(model, x, known)[0].tolist()  # row 0 was evaluated at exactly x
        [0.0, 0.0]
    """
    n, logits, known = x_adv.shape[0], outcome.logits, outcome.known
    if logits is None or known is None or is_random(model):
        return _evaluated(model, x_adv)
    same = known & _same_bits(model_input(model, x_adv), model_input(model, outcome.x))
    redo = (~same).nonzero().squeeze(1)
    if redo.numel() == n:
        return _evaluated(model, x_adv)
    logits = logits.clone()
    if redo.numel():
        logits[redo] = _evaluated(model, x_adv[redo]).to(logits.dtype)
    return logits


def _same_bits(a: Tensor, b: Tensor) -> Tensor:
    """(N,) bool: row i of ``a`` and of ``b`` hold the same bits (−0.0 differs from 0.0)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return torch.zeros(a.shape[0], dtype=torch.bool, device=a.device)
    bits = {8: torch.int64, 4: torch.int32, 2: torch.int16}[a.element_size()]
    return (a.view(bits) == b.view(bits)).reshape(a.shape[0], -1).all(dim=1)


def _evaluated(model: nn.Module, x: Tensor) -> Tensor:
    """The model's checked logits at x."""
    out = call_model(model, x)
    check_logits(out, x.shape[0])
    return out
