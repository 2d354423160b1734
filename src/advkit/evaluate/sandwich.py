"""The sandwich: per sample and per ε, certified, attacked or unknown.

Problem solved: an attack's robust accuracy is an upper bound on the true robust accuracy,
a certifier's certified accuracy a lower bound. Putting both on the same samples shows
where the truth lies and how wide the gap is. A sample is *attacked* when an attack of
the evaluation (or a verified counterexample of an exact certifier) broke it, *certified*
when the certifier proved it robust, and *unknown* otherwise. Both at once would mean a
bug in one of them, so it is checked and raised as an error.

Example:
    >>> import torch, advkit
    >>> from advkit.evaluate.sandwich import sandwich
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    >>> x, y = torch.rand(20, 1, 8, 8), torch.randint(0, 10, (20,))
    >>> ev = advkit.evaluate(net, (x, y), advkit.Linf(0.05), "fast", progress=False)
    >>> rows = sandwich(ev, net, (x, y), advkit.Linf(0.05), advkit.CROWN())
    >>> rows[0].certified_accuracy <= rows[0].robust_accuracy
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from advkit.certify.run import Certifier, certify
from advkit.data.samples import Samples
from advkit.evaluate.figures import pyplot, save_figure
from advkit.evaluate.report import Evaluation
from advkit.threat import ThreatModel

__all__ = ["SandwichRow", "plot_sandwich", "sandwich", "sandwich_table"]


@dataclass(frozen=True)
class SandwichRow:
    """The sandwich at one ε.

    Attributes:
        eps: the radius.
        certified_accuracy: fraction certified: a lower bound on the true robust accuracy.
        robust_accuracy: fraction broken neither by the evaluation's attacks nor by the
            certifier's verified counterexamples: the tighter empirical upper bound.
        certified, attacked, unknown: sample counts of each status.
        certify_seconds: the certifier's wall time.
        status: per sample, ``"certified"``, ``"attacked"`` or ``"unknown"``.
    """

    eps: float
    certified_accuracy: float
    robust_accuracy: float
    certified: int
    attacked: int
    unknown: int
    certify_seconds: float
    status: tuple[str, ...]

    @classmethod
    def of(cls, eps: float, status: list[str], seconds: float) -> SandwichRow:
        """The row of per-sample statuses at ``eps``."""
        n = len(status)
        return cls(
            eps=eps,
            certified_accuracy=status.count("certified") / n,
            robust_accuracy=(n - status.count("attacked")) / n,
            certified=status.count("certified"),
            attacked=status.count("attacked"),
            unknown=status.count("unknown"),
            certify_seconds=seconds,
            status=tuple(status),
        )

    def to_dict(self, with_status: bool = True) -> dict[str, Any]:
        """The JSON form; ``with_status=False`` leaves out the per-sample list."""
        out = asdict(self)
        if not with_status:
            del out["status"]
        return out


def sandwich(
    ev: Evaluation,
    model: nn.Module,
    data: tuple[Tensor, Tensor] | Samples,
    threat: ThreatModel,
    method: Certifier,
    *,
    batch_size: int = 64,
) -> list[SandwichRow]:
    """Certify the evaluated samples at every ε of ``ev`` and combine both verdicts.

    Args:
        ev: an evaluation of ``model`` on ``data`` (its ε values are used).
        model: the classifier.
        data: the evaluated samples: ``(x, y)`` or :class:`~advkit.data.samples.Samples`
            (certified :data:`CHUNK` batches at a time, so memory follows the batch).
        threat: the evaluation's threat model (norm and box).
        method: the certifier, e.g. ``CROWN()``.
        batch_size: samples certified together.

    Returns:
        One :class:`SandwichRow` per ε of ``ev``, increasing.

    Raises:
        RuntimeError: a sample is both certified and attacked (a soundness bug).
    """
    samples = Samples.of(data)
    if len(samples) != ev.n or any(
        r.index != i for recs in ev.samples.values() for i, r in enumerate(recs)
    ):
        raise ValueError(
            f"the evaluation covers {ev.n} samples in order, but {len(samples)} inputs were "
            "given: pass the same (x, y) the evaluation ran on"
        )
    rows = []
    for eps, _ in ev.curve:
        certified, attacked, seconds = _certify_all(
            model, samples, threat.with_eps(eps), method, batch_size
        )
        status = []
        for i, rec in enumerate(ev.samples[eps]):
            broken = not rec.robust or attacked[i]
            if broken and certified[i]:
                raise RuntimeError(
                    f"sample {rec.index} is both certified ({method.name}) and broken "
                    f"({rec.broken_by}) at eps={eps}: a certifier or attack is unsound"
                )
            status.append("certified" if certified[i] else "attacked" if broken else "unknown")
        rows.append(SandwichRow.of(eps, status, seconds))
    return rows


CHUNK = 16
"""Batches of samples read and certified per :func:`~advkit.certify.certify` call."""


def _certify_all(
    model: nn.Module, samples: Samples, threat: ThreatModel, method: Certifier, batch_size: int
) -> tuple[list[bool], list[bool], float]:
    """Every sample's certified and attacked verdicts and the seconds they took, certified
    a chunk of samples at a time (on every rank of a distributed run: ranks share each
    chunk's batches)."""
    certified: list[bool] = []
    attacked: list[bool] = []
    seconds = 0.0
    for _, x, y in samples.batches(batch_size * CHUNK):
        res = certify(model, x, y, threat, method, batch_size=batch_size)
        certified += res.certified.tolist()
        attacked += res.attacked.tolist()
        seconds += res.seconds
    return certified, attacked, seconds


def sandwich_table(rows: list[SandwichRow], method: str) -> str:
    """Terminal table: robust accuracy lies in [certified, attacked-based] per ε."""
    lines = [
        f"sandwich ({method}): true robust accuracy lies in [certified, empirical]",
        "     eps   certified   empirical   certified/attacked/unknown",
    ]
    for r in rows:
        lines.append(
            f"{r.eps:8.4g}   {100 * r.certified_accuracy:7.2f}%   "
            f"{100 * r.robust_accuracy:7.2f}%   {r.certified}/{r.attacked}/{r.unknown}"
        )
    return "\n".join(lines)


def plot_sandwich(rows: list[SandwichRow], path: str | Path, title: str = "") -> Path:
    """Plot certified and empirical robust accuracy against ε, the gap shaded."""
    plt = pyplot("the sandwich plot")
    eps = [r.eps for r in rows]
    cert = [100 * r.certified_accuracy for r in rows]
    emp = [100 * r.robust_accuracy for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(eps, emp, "o-", label="empirical (attacks): upper bound")
    ax.plot(eps, cert, "s-", label="certified: lower bound")
    ax.fill_between(eps, cert, emp, alpha=0.2, label="unknown")
    ax.set_xlabel("ε")
    ax.set_ylabel("robust accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
