"""An evaluation as a RobustBench ``model_info`` entry: :func:`robustbench_info`.

Problem solved: RobustBench keeps one JSON file per model (``model_info/<dataset>/<threat
model>/<Name>.json``) with the paper's details and the clean and AutoAttack accuracy as
percent strings. :func:`robustbench_info` writes an evaluation in that shape, its fields in
RobustBench's order: what advkit measured (``clean_acc``, the robust accuracy in
``autoattack_acc``, ``eps`` as ``"8/255"`` where that is exact, ``dataset``) and ``None``,
as RobustBench leaves them, for what only the authors know (paper, venue, architecture,
extra training data, the number reported in the paper). ``footnote`` says that the robust
accuracy comes from advkit's suite, not from the AutoAttack package; ``threat_model``
(RobustBench's ``Linf``/``L2``) and an ``advkit`` block (version, suite, exact fractions,
run context) follow.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.robustbench_info import eps_text, robustbench_info
    >>> eps_text(8 / 255), eps_text(0.5), eps_text(0.2)
    ('8/255', '0.5', '0.2')
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    >>> ev = advkit.evaluate(net, (x, y), advkit.Linf(8 / 255), "fast", progress=False)
    >>> info = robustbench_info(ev, "linf", dataset="digits", suite="fast")
    >>> info["eps"], info["threat_model"], info["venue"]
    ('8/255', 'Linf', None)
    >>> info["autoattack_acc"] == str(round(100 * ev.robust_accuracy, 2))
    True
"""

from __future__ import annotations

import math
from typing import Any

from advkit.evaluate.report import Evaluation
from advkit.version import VERSION

__all__ = ["THREAT_MODELS", "eps_text", "robustbench_info"]

THREAT_MODELS = {"linf": "Linf", "l2": "L2"}
"""advkit's norms that have a RobustBench leaderboard, with RobustBench's names."""


def eps_text(eps: float) -> str:
    """ε as RobustBench writes it: ``"k/255"`` when that is exactly ε and shorter.

    ``8 / 255`` becomes ``"8/255"``; ``0.5`` stays ``"0.5"`` (and ``0.2``, though it is
    51/255, stays ``"0.2"``); any other value, ``inf`` included, is Python's shortest exact
    form.
    """
    plain = repr(float(eps))
    if not math.isfinite(eps):
        return plain
    steps = round(eps * 255)
    fraction = f"{steps}/255"
    return fraction if steps / 255 == eps and len(fraction) < len(plain) else plain


def robustbench_info(
    ev: Evaluation, norm: str, dataset: str | None = None, suite: str | None = None
) -> dict[str, Any]:
    """The RobustBench ``model_info`` fields of ``ev``, then advkit's own.

    Args:
        ev: the evaluation (its main ε is the entry's).
        norm: the threat model's name, ``"linf"`` or ``"l2"``.
        dataset: the dataset's name (``"cifar10"``); None when unknown.
        suite: the name of the suite that ran (``"standard"``); None for a custom one.

    Returns:
        A mapping ready for JSON; accuracies as RobustBench writes them (percent, two
        decimals, strings), unknown fields None.

    Raises:
        ValueError: ``norm`` has no RobustBench leaderboard (L1, L0).
    """
    if norm not in THREAT_MODELS:
        raise ValueError(
            f"RobustBench ranks Linf and L2 threat models only, not {norm}: evaluate under "
            "advkit.Linf or advkit.L2"
        )
    cascade = " -> ".join(ev.suite)
    named = f"{suite} ({cascade})" if suite else cascade
    data = ev.info.get("dataset") or dataset
    samples = f"{ev.n} samples" + (f" of {data}" if data else "")
    return {
        "link": None,
        "name": None,
        "authors": None,
        "additional_data": None,
        "number_forward_passes": None,
        "dataset": dataset,
        "venue": None,
        "architecture": None,
        "eps": eps_text(ev.eps),
        "clean_acc": _percent(ev.clean_accuracy),
        "reported": None,
        "autoattack_acc": _percent(ev.robust_accuracy),
        "footnote": (
            f"Robust accuracy by advkit {VERSION}, suite {named}, per-sample worst case on "
            f"{samples}; not AutoAttack."
        ),
        "threat_model": THREAT_MODELS[norm],
        "advkit": _advkit_block(ev, suite),
    }


def _advkit_block(ev: Evaluation, suite: str | None) -> dict[str, Any]:
    """What advkit adds: its version, the suite, exact fractions and the run's context."""
    return {
        "version": VERSION,
        "suite": suite,
        "attacks": list(ev.suite),
        "threat": ev.threat,
        "eps": ev.eps,
        "n": ev.n,
        "clean_accuracy": ev.clean_accuracy,
        "robust_accuracy": ev.robust_accuracy,
        "adaptive": ev.adaptive,
        "masking": [flag.check for flag in ev.masking],
        "info": ev.info,
    }


def _percent(fraction: float) -> str:
    """A fraction as RobustBench writes accuracies: percent rounded to 2 decimals, a string."""
    return str(round(100 * fraction, 2))
