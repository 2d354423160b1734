"""Threat models: the set Δ(x0) of allowed inputs around a clean point.

A threat model is an ℓp ball of radius ε around x0 intersected with the input box
``[lo, hi]`` (default ``[0, 1]``); :class:`L0` bounds the number of changed features
instead (ε = k). It answers every geometric question an attack or a certifier asks:
projection, the steepest-ascent unit step, uniform sampling, the norm of a perturbation,
and the support function ``max_{‖δ‖≤ε} ⟨a, δ⟩ = ε‖a‖_*`` (dual norm).

ε may be a float or a tensor of shape ``(N,)`` (one radius per sample).

Example:
    >>> import torch
    >>> from advkit import Linf
    >>> threat = Linf(0.3)
    >>> x0 = torch.rand(4, 1, 28, 28)
    >>> x = threat.project(x0 + torch.randn_like(x0), x0)
    >>> bool((threat.norm(x - x0) <= 0.3 + 1e-6).all())
    True
"""

from advkit.threat.base import Bounds, ThreatModel
from advkit.threat.dense import L2, Linf
from advkit.threat.sparse import L0, L1

__all__ = ["L0", "L1", "L2", "THREATS", "Bounds", "Linf", "ThreatModel"]

THREATS: dict[str, type[ThreatModel]] = {t.name: t for t in (Linf, L2, L1, L0)}
"""The threat models by name (``"linf"``, ``"l2"``, ``"l1"``, ``"l0"``)."""
