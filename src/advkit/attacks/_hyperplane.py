"""The least-ℓp step onto a hyperplane inside the input box (FAB's projection).

For rows t (N, D) of the box [lo, hi]^D, a normal w (N, D) and a target r (N,), find

    δ = argmin ‖δ‖_p   subject to   ⟨w, δ⟩ = r,   lo ≤ t + δ ≤ hi,

exactly, for p = ∞, 2 and 1 (Croce & Hein 2020, "Minimally distorted adversarial
examples with a fast adaptive boundary attack", Section 3.1). Where the box cannot reach
the hyperplane, δ is the box point that gets closest to it (every coordinate pushed to
the face in the direction that helps).

Each coordinate i can move towards the hyperplane by at most its *room* (to ``hi`` where
w_i helps upwards, to ``lo`` where it helps downwards) and, saturated, contributes its
*gain* w_i · room_i to ⟨w, δ⟩.

- L∞ and L2: the minimizer is δ(τ) = clip(τ·v, 0, room) for the smallest τ ≥ 0 with
  ⟨w, δ(τ)⟩ = r, with v = sign(w) (L∞) or v = w (L2). ⟨w, δ(τ)⟩ is piecewise linear and
  increasing in τ, with a kink where each coordinate saturates: sorting the kinks finds
  the segment and τ in closed form.
- L1: a fractional knapsack. Coordinates are used whole, largest |w_i| first (the most
  progress per unit of ℓ1), until the next one only needs to move part of its room.

Example:
    >>> import math, torch
    >>> from advkit.attacks._hyperplane import boundary_step
    >>> t, w = torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 2.0]])
    >>> boundary_step(t, w, torch.tensor([1.0]), 0.0, 1.0, 2.0)  # the free L2 step 0.2·w
    tensor([[0.2000, 0.4000]])
    >>> boundary_step(t, w, torch.tensor([1.0]), 0.0, 1.0, 1.0)  # L1: the largest |w_i|
    tensor([[0.0000, 0.5000]])
    >>> t, w = torch.tensor([[0.9, 0.5]]), torch.tensor([[1.0, 1.0]])
    >>> boundary_step(t, w, torch.tensor([0.5]), 0.0, 1.0, math.inf)  # x1 stops at the box
    tensor([[0.1000, 0.4000]])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["boundary_step"]


def boundary_step(t: Tensor, w: Tensor, r: Tensor, lo: float, hi: float, p: float) -> Tensor:
    """The least-ℓp δ with ⟨w, δ⟩ = r and t + δ in [lo, hi] (rows of (N, D) tensors).

    Args:
        t: points in the box, (N, D).
        w: normals of the hyperplanes, (N, D).
        r: ⟨w, δ⟩ to reach, (N,).
        lo: lower bound of the box.
        hi: upper bound of the box.
        p: the norm, ``math.inf``, 2 or 1.

    Returns:
        δ (N, D) in t's dtype; where no point of the box reaches the hyperplane, the step
        to the box point nearest to it in ⟨w, ·⟩.
    """
    dtype = t.dtype
    t, w, r = t.double(), w.double(), r.double()
    toward = torch.where(r < 0, -1.0, 1.0)[:, None]
    w = w * toward  # now ⟨w, δ⟩ = |r| ≥ 0 is the goal
    need = r.abs()
    room = torch.where(w > 0, hi - t, lo - t).masked_fill(w == 0, 0.0)
    gain = w * room  # ≥ 0: what a saturated coordinate contributes
    if p == 1:
        step = _knapsack(w, room, gain, need)
    elif p in (2, math.inf):
        step = _clipped_ray(w if p == 2 else w.sign(), w, room, gain, need)
    else:
        raise ValueError(f"the boundary step is for p = inf, 2 or 1, got p = {p}")
    return step.to(dtype)


def _clipped_ray(v: Tensor, w: Tensor, room: Tensor, gain: Tensor, need: Tensor) -> Tensor:
    """δ(τ) = clip(τ·v, 0, room) at the least τ with ⟨w, δ(τ)⟩ = need (L∞ and L2)."""
    rate = w * v  # growth of ⟨w, δ(τ)⟩ in τ while the coordinate is free (≥ 0)
    kink = torch.where(v != 0, room / v.where(v != 0, 1.0), math.inf)
    kinks, order = kink.sort(dim=1)
    gains, rates = gain.gather(1, order), rate.gather(1, order)
    saturated = gains.cumsum(dim=1)  # Σ of the gains up to and including each kink
    free = rates.flip(1).cumsum(dim=1).flip(1) - rates  # Σ of the rates after each kink
    at_kink = saturated + torch.where(free > 0, kinks * free, 0.0)
    reach = at_kink >= need[:, None]
    feasible = reach.any(dim=1)
    k = reach.to(torch.int8).argmax(dim=1, keepdim=True)
    before = (saturated.gather(1, k) - gains.gather(1, k))[:, 0]
    free_before = (free.gather(1, k) + rates.gather(1, k))[:, 0]
    tau = torch.where(feasible, (need - before) / free_before.clamp_min(1e-300), 0.0)
    moved = tau[:, None] * v
    clipped = torch.where(room > 0, torch.minimum(moved, room), torch.maximum(moved, room))
    return torch.where(feasible[:, None], clipped, room)


def _knapsack(w: Tensor, room: Tensor, gain: Tensor, need: Tensor) -> Tensor:
    """The least-ℓ1 δ: whole coordinates by decreasing |w_i|, then part of one (L1)."""
    order = w.abs().argsort(dim=1, descending=True)
    gains = gain.gather(1, order)
    reached = gains.cumsum(dim=1)
    reach = reached >= need[:, None]
    feasible = reach.any(dim=1)
    k = reach.to(torch.int8).argmax(dim=1, keepdim=True)
    before = (reached.gather(1, k) - gains.gather(1, k))[:, 0]
    w_k = w.gather(1, order.gather(1, k))[:, 0]
    part = (need - before) / w_k.where(w_k != 0, 1.0)
    rank = torch.arange(w.shape[1], device=w.device)[None, :]
    whole = torch.where(rank < k, room.gather(1, order), 0.0)
    sorted_step = whole.scatter(1, k, part[:, None])
    step = torch.zeros_like(room).scatter(1, order, sorted_step)
    return torch.where(feasible[:, None], step, room)
