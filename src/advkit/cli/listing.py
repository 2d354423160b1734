"""``advkit list``: attacks, suites, models, training methods, detectors and datasets."""

from __future__ import annotations

import argparse
from typing import Any

from advkit.attacks.catalog import ATTACKS
from advkit.certify import CERTIFIERS
from advkit.cli.detect import DETECTORS
from advkit.cli.train import METHODS
from advkit.data import CUSTOM_DATASETS, DATASETS
from advkit.engine import NORMS
from advkit.evaluate.suites import RULES, SUITES, SuiteRules, get_suite
from advkit.models import MODELS

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``list`` subcommand to the subparsers ``sub``."""
    sub.add_parser("list", help="attacks, certifiers, suites, models and datasets").set_defaults(
        func=run
    )


def run(args: argparse.Namespace) -> None:
    """Print every name the other commands accept."""
    print("attacks (name, access needed, norms, fixed ε or minimal distortion):")
    width = max(map(len, ATTACKS))
    for name, entry in ATTACKS.items():
        declared = entry.info
        access = declared.access.name.lower().replace("_", "-")
        kind = "minimal" if declared.minimal else "fixed-ε"
        norms = ",".join(declared.norms)
        print(f"  {name:{width}s} {access:9s} {norms:13s} {kind:7s} {declared.summary}")
    print("certifiers (advkit certify --method, advkit evaluate --certify):")
    for name, cls in CERTIFIERS.items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"  {name:12s} {doc}")
    print("suites:")
    for name, cascade in SUITES.items():
        rules = RULES.get(name, SuiteRules())
        eot = f" (EOT, {rules.eot} draws)" if rules.eot else ""
        norms = "" if rules.norms == NORMS else f"   [{','.join(rules.norms)}]"
        print(f"  {name:10s} {' -> '.join(n for n, _ in cascade)}{eot}{norms}")
        for norm in rules.by_norm:
            built = " -> ".join(n for n, _ in get_suite(name, norm))
            print(f"  {name:10s} at {norm}: {built}")
    print("models (checkpoints: $ADVKIT_SHARED_DATA or --checkpoint):")
    for name, spec in MODELS.items():
        print(f"  {name:26s} {spec.dataset:14s} {spec.description}")
    print("training methods (advkit train --method):")
    for name, (_, doc) in METHODS.items():
        print(f"  {name:10s} {doc}")
    print("certified training (advkit train --certified):")
    print("  ibp        interval bound propagation, Gowal et al. 2018 (ε and κ ramps)")
    print("  crown-ibp  CROWN-IBP, Zhang et al. 2020 (β from 1 to 0 during the ramp)")
    print("detectors (advkit detect --detector):")
    for name, doc in DETECTORS.items():
        print(f"  {name:18s} {doc}")
    print("datasets:")
    for name, info in DATASETS.items():
        print(f"  {name:14s} {info.description}")
    for name, line in CUSTOM_DATASETS.items():
        print(f"  {name:14s} {line}")
