"""Branch and bound: complete verification of ReLU networks with β-CROWN-style bounds.

Problem solved: CROWN and α-CROWN certify only what one linear relaxation proves, and the
exact MIP stops at tiny networks. Branch and bound (Bunel et al. 2020; α,β-CROWN, Wang et
al. 2021) splits the problem into subdomains, by ReLU neuron (active/inactive) or, for
inputs of few coordinates, by input coordinate, bounds many subdomains at once on the
model's device with split constraints kept through optimized multipliers β, and attacks
to find counterexamples early. It answers certified / falsified (a counterexample checked
by a forward pass) / unknown (time limit), never a guess; for ReLU networks it is
complete given time (a fully split subdomain is an exact linear program).

:class:`BaB` is the certifier (``advkit certify --method bab``); :func:`verify_box` and
:func:`~advkit.certify.bab_search.verify_graph` verify any linear property of the output
on an input box. The loop is in :mod:`advkit.certify.bab_search`.

Threat models: L∞ (the set is a box).

Example:
    >>> import torch, advkit
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8),
    ...                           torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    >>> x = torch.rand(2, 4)
    >>> res = advkit.certify(net, x, net(x).argmax(1), advkit.Linf(0.01), BaB(time_limit=5))
    >>> res.status()
    ['certified', 'certified']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from advkit.access.precision import call_model
from advkit.certify.bab_search import BaBResult, verify_box, verify_graph
from advkit.certify.task import CertOutput, CertTask
from advkit.threat import Linf

__all__ = ["BaB", "BaBResult", "verify_box", "verify_graph"]


@dataclass(frozen=True)
class BaB:
    """Batched ReLU-split (or input-split) branch and bound with optimized α and β.

    Args:
        time_limit: seconds per sample; past it the sample is "unknown".
        batch: subdomains bounded together (half as many are split per round).
        steps: projected gradient steps on α and β per batch.
        lr_alpha: learning rate of the ReLU lower slopes α.
        lr_beta: learning rate of the split multipliers β.
        beta: use β (split constraints in the bound); False leaves splits to clip
            intermediate bounds only.
        refine: re-bound the inputs of later ReLU layers per subdomain under its splits
            (tighter, one CROWN pass per layer and batch).
        input_split_dims: split input coordinates instead of ReLUs when the input has at
            most this many coordinates.
        attack_restarts: PGD starting points (first attack, and from the worst
            subdomains).
        attack_steps: PGD steps.
    """

    time_limit: float = 30.0
    batch: int = 256
    steps: int = 20
    lr_alpha: float = 0.1
    lr_beta: float = 0.05
    beta: bool = True
    refine: bool = True
    input_split_dims: int = 10
    attack_restarts: int = 16
    attack_steps: int = 20

    name: ClassVar[str] = "bab"

    def __post_init__(self) -> None:
        if self.time_limit <= 0 or self.batch < 2 or self.steps < 0:
            raise ValueError(
                f"BaB needs time_limit > 0, batch >= 2 and steps >= 0, got {self}; "
                "e.g. BaB(time_limit=30, batch=256, steps=20)"
            )
        if self.lr_alpha <= 0 or self.lr_beta <= 0 or self.attack_restarts < 1:
            raise ValueError(
                f"BaB needs lr_alpha > 0, lr_beta > 0 and attack_restarts >= 1, got {self}"
            )

    def run(self, task: CertTask) -> CertOutput:
        """Margins' lower bounds (N, K) and counterexamples, one search per sample."""
        if not isinstance(task.threat, Linf):
            raise ValueError(
                f"BaB verifies L∞ balls (boxes), not {type(task.threat).__name__}; use "
                "CROWN or AlphaCROWN for L2, MIP for L1"
            )
        n, k = task.x.shape[0], task.num_classes
        lower = torch.full((n, k), -torch.inf, dtype=task.x.dtype, device=task.x.device)
        x_adv = task.x.clone()
        spec_all = task.spec
        for s in range(n):
            others = [j for j in range(k) if j != int(task.y[s])]
            res = verify_graph(
                task.graph,
                lambda x: call_model(task.model, x),
                task.inputs.lower[s : s + 1],
                task.inputs.upper[s : s + 1],
                spec_all[s : s + 1, others],
                torch.zeros(1, len(others), dtype=task.x.dtype, device=task.x.device),
                self,
            )
            lower[s, others] = res.lower.to(lower)
            if res.counterexample is not None:
                x_adv[s] = res.counterexample.to(x_adv)
        return CertOutput(lower, x_adv)
