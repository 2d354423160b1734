"""What an attack says about itself: minimal-distortion or not, and the norms it attacks.

Attacks declare these traits as optional class attributes (``minimal``, ``norms``) that
wrappers such as BPDA and EOT forward. Every reader outside the attacks asks here, so the
traits are read in one place.

Example:
    >>> import advkit
    >>> from advkit.evaluate.traits import is_minimal, norms_of
    >>> is_minimal(advkit.CW()), is_minimal(advkit.PGD())
    (True, False)
    >>> norms_of(advkit.Square()), norms_of(advkit.PGD()) is None
    (('linf', 'l2'), True)
"""

from __future__ import annotations

from advkit.attacks.run import Attack

__all__ = ["is_minimal", "norms_of"]


def is_minimal(method: Attack) -> bool:
    """Whether ``method`` searches the smallest adversarial perturbation (C&W, DeepFool...)
    rather than any perturbation within a fixed ε."""
    return bool(getattr(method, "minimal", False))


def norms_of(method: Attack) -> tuple[str, ...] | None:
    """The threat models (by name: ``"linf"``, ``"l2"``...) ``method`` attacks, or None
    when it does not say (it is then taken to attack every norm)."""
    norms = getattr(method, "norms", None)
    return None if norms is None else tuple(norms)
