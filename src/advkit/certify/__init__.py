"""Certifiers: proofs that no input in the threat's set changes the label.

Attacks give lower bounds on the adversarial loss; certifiers give upper bounds (or the
exact answer). Every certifier is a frozen dataclass run through :func:`certify`.
"""

from advkit.certify.alpha_crown import AlphaCROWN
from advkit.certify.bab import BaB
from advkit.certify.crown import CROWN
from advkit.certify.ibp import IBP
from advkit.certify.linear import LinearExact, linear_min_distance
from advkit.certify.mip import MIP, mip_min_distance
from advkit.certify.result import CertResult
from advkit.certify.run import Certifier, certify
from advkit.certify.smoothing import Smoothing, SmoothingResult, smoothed_certify
from advkit.certify.training import certified_loss, margin_lower_bounds, ramp

CERTIFIERS: dict[str, type[Certifier]] = {
    "linear": LinearExact,
    "ibp": IBP,
    "crown": CROWN,
    "alpha-crown": AlphaCROWN,
    "mip": MIP,
    "bab": BaB,
}

__all__ = [
    "CERTIFIERS",
    "CROWN",
    "IBP",
    "MIP",
    "AlphaCROWN",
    "BaB",
    "CertResult",
    "Certifier",
    "LinearExact",
    "Smoothing",
    "SmoothingResult",
    "certified_loss",
    "certify",
    "linear_min_distance",
    "margin_lower_bounds",
    "mip_min_distance",
    "ramp",
    "smoothed_certify",
]
