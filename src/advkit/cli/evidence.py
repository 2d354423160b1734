"""What ``advkit evaluate`` keeps as evidence, and its re-verification at the end.

Beside the results JSON it writes the adversarial example of every broken sample
(``--save-adv broken``, the default; :mod:`advkit.evaluate.examples`), and records in the
JSON how to load the model, data and threat again (:class:`RunSource`), their
:class:`Fingerprint` and the examples file's sha256. It then re-verifies the written
results on the model and data in memory (:func:`advkit.evaluate.verify.verify_results`,
one forward pass per example; ``--skip-verify`` skips it), as ``advkit verify`` does later
from the files alone.

Example:
    advkit evaluate --out results/run.json    # + results/run.adv.safetensors, verified
    advkit evaluate --out results/run.json --save-adv none    # no examples kept
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from torch import nn

from advkit.access.precision import model_input
from advkit.cli.common import dataset_of
from advkit.cli.outputs import Output, atomic_write
from advkit.cli.verify import verified
from advkit.data.samples import Samples
from advkit.evaluate.examples import examples_path, file_sha256, save_examples
from advkit.evaluate.provenance import Fingerprint, RunSource
from advkit.evaluate.report import Evaluation
from advkit.evaluate.verify import verify_results
from advkit.threat import ThreatModel

__all__ = [
    "SAVE_ADV",
    "add_evidence_options",
    "evidence",
    "examples_output",
    "source_of",
    "verify_written",
]

SAVE_ADV = ("broken", "none")
"""``--save-adv``: keep the example of every broken sample (default), or none."""


def add_evidence_options(ev: argparse.ArgumentParser) -> None:
    """``--save-adv`` and ``--skip-verify`` on the ``evaluate`` parser ``ev``."""
    ev.add_argument(
        "--save-adv",
        choices=SAVE_ADV,
        default="broken",
        help="broken (default): keep the adversarial example of every broken sample in "
        "the --out path with .adv.safetensors, re-checked by advkit verify; none: keep none",
    )
    ev.add_argument(
        "--skip-verify",
        action="store_true",
        help="do not re-verify the kept examples at the end (advkit verify does it later)",
    )


def examples_output(args: argparse.Namespace, out: Path) -> Output | None:
    """The examples file beside the results ``out``, or None with ``--save-adv none``."""
    if args.save_adv == "none":
        return None
    return Output("--out", examples_path(out), "adversarial examples")


def evidence(
    args: argparse.Namespace,
    examples: Output | None,
    ev: Evaluation,
    loaded: tuple[nn.Module, Samples],
    threat: ThreatModel,
) -> dict[str, Any]:
    """The JSON fields that let ``advkit verify`` re-check the run; writes the examples
    file ``examples`` (None with ``--save-adv none``)."""
    model, data = loaded
    like = model_input(model, data.take([0])[0])  # the evaluation digested the data already
    kept = None
    if examples is not None:
        path = atomic_write(examples.path, lambda tmp: save_examples(tmp, ev.examples))
        kept = {"sha256": file_sha256(path), "count": len(ev.examples)}
    return {
        "source": source_of(args, threat).to_dict(),
        "fingerprint": Fingerprint.of_digest(model, like, ev.data_digest, threat).to_dict(),
        "adversarial_examples": kept,
    }


def source_of(args: argparse.Namespace, threat: ThreatModel) -> RunSource:
    """How to load this run's model, data and threat again (paths made absolute)."""
    model = args.model
    if model is not None and Path(model).is_file():
        model = str(Path(model).resolve())
    return RunSource(
        model=model,
        checkpoint=_absolute(args.checkpoint),
        dataset=dataset_of(args),
        split=args.split,
        n=args.n,
        data_dir=_absolute(args.data_dir),
        verify_data=not args.no_verify_data,
        norm=threat.name,
        eps=float(threat.eps),
        lo=threat.lo,
        hi=threat.hi,
        layout=args.layout,
        mean=None if args.mean is None else tuple(args.mean),
        std=None if args.std is None else tuple(args.std),
    )


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def verify_written(
    args: argparse.Namespace, out: Path, loaded: tuple[nn.Module, Samples], random: bool
) -> None:
    """Re-verify the results just written, as ``advkit verify`` would (on the model and
    data in memory), and say so; a random model's examples are left to ``advkit verify``
    (one forward pass of a random model is one draw, no proof)."""
    if random:
        if not args.json:
            print(
                "\nnot re-verified: the evaluated model is random, and one forward pass is "
                f"one draw; advkit verify {out} re-checks every example on one draw"
            )
        return
    check = verify_results(out, loaded, args.batch_size)
    if not args.json:
        print("\n" + check.table())
        if check.ok:
            print(f"verified (re-check any time: advkit verify {out})")
    verified(check)
