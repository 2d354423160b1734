"""``advkit evaluate``: clean and robust accuracy under an attack suite, resumable.

Without ``--model`` it evaluates the built-in digits CNN (what ``make demo`` runs): the
``quick`` suite on every test digit at ε = 0.1 and a curve over 0.05 and 0.2, about a
minute on 2 CPU cores; the output names the suite and the command of the full
(``standard``) evaluation.

Beside the JSON it keeps the evidence (``--save-adv broken``, the default): the
adversarial example of every broken sample in ``<out>.adv.safetensors``
(:mod:`advkit.evaluate.examples`), its sha256, the model's source and fingerprint in the
JSON, and then re-verifies it all (:func:`advkit.evaluate.verify.verify_results`, one
forward pass per example; ``--skip-verify`` skips it), as ``advkit verify`` does later.
"""

from __future__ import annotations

import argparse
import sqlite3
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from advkit.attacks.adaptive import EOT_SAMPLES
from advkit.attacks.catalog import make_attack, names
from advkit.certify import CERTIFIERS
from advkit.cli.certify import make_certifier
from advkit.cli.common import (
    add_common,
    floats,
    inputs_of,
    model_and_data,
    model_and_samples,
    refuse_unbounded,
    threat_of,
)
from advkit.cli.errors import UsageError
from advkit.cli.evidence import (
    add_evidence_options,
    evidence,
    examples_output,
    verify_written,
)
from advkit.cli.formats import add_format, format_outputs, write_formats
from advkit.cli.json_text import to_json, write_json
from advkit.cli.outputs import Output, atomic_write, check_outputs
from advkit.cli.precision import add_precision
from advkit.cli.report import report_output, write_report
from advkit.cli.workers import add_workers, refuse_ranks
from advkit.data.samples import Samples
from advkit.demo import DEMO_SUITE, FULL_SUITE, demo_threads
from advkit.distributed import is_main
from advkit.evaluate.figures import pyplot
from advkit.evaluate.followup import adaptive_rerun
from advkit.evaluate.minimal import evaluate_minimal
from advkit.evaluate.report import Evaluation
from advkit.evaluate.run import evaluate
from advkit.evaluate.sandwich import SandwichRow, plot_sandwich, sandwich, sandwich_table
from advkit.evaluate.suites import SUITES, Suite, get_suite
from advkit.store import StoreMismatch
from advkit.store_lock import StoreLock
from advkit.threat import ThreatModel
from advkit.traits import is_random

__all__ = ["DEMO_CURVE", "register", "run"]

DEMO_CURVE = (0.05, 0.2)
"""The demo's other ε: with :data:`~advkit.demo.DEMO_EPS`, a curve of three points."""

STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def register(sub: Any) -> None:
    """Add the ``evaluate`` subcommand to the subparsers ``sub``."""
    ev = sub.add_parser("evaluate", help="clean and robust accuracy under an attack suite")
    add_common(ev)
    add_precision(ev)
    ev.add_argument(
        "--suite",
        choices=sorted(SUITES),
        help=f"default: {FULL_SUITE}; {DEMO_SUITE} for the built-in demo",
    )
    ev.add_argument("--eps-curve", type=floats, help="more ε values, e.g. 0.05,0.1,0.2")
    ev.add_argument("--out", default="results/evaluation.json", help="JSON result file")
    add_format(ev)
    ev.add_argument(
        "--store", help="SQLite store for resuming (default: the --out path with .sqlite)"
    )
    ev.add_argument("--fresh", action="store_true", help="discard a previous store first")
    ev.add_argument(
        "--minimal",
        choices=names(minimal=True),
        help="instead of a suite, run this minimal-distortion attack once and report its "
        "distortion and the accuracy-vs-ε curve read off the per-sample minimal distances "
        "(--eps is then a cap; --eps inf for none)",
    )
    ev.add_argument(
        "--adaptive",
        action="store_true",
        help="when the gradient-masking checks raise flags, re-evaluate with the adaptive "
        "attacks they name (FGSM and random noise added to the cascade, EOT for a "
        "non-deterministic model) and report that result",
    )
    ev.add_argument(
        "--eot-samples", type=int, default=EOT_SAMPLES, help="draws per EOT evaluation (20)"
    )
    ev.add_argument(
        "--certify",
        choices=sorted(CERTIFIERS),
        help="also certify every sample at every ε: per-sample certified/attacked/unknown, "
        "the interval [certified, robust accuracy] and a plot (the --out path with .png)",
    )
    ev.add_argument(
        "--certify-time-limit",
        type=float,
        metavar="SECONDS",
        help="with --certify mip or bab: seconds per sample (default 60 for mip, 30 for bab)",
    )
    ev.add_argument(
        "--estimates",
        action="store_true",
        help="add each sample's CLEVER score (an estimate, never a certificate; 10 batches "
        "of 50 gradient norms in the --eps ball) and, for chains of affine layers and "
        "ReLUs, its certified margin radius to its record; flags samples an attack broke "
        "below their CLEVER score",
    )
    ev.add_argument(
        "--report",
        action="store_true",
        help="also write the HTML report of the results (the --out path with .html; "
        "advkit report draws it from any results file later)",
    )
    add_evidence_options(ev)
    add_workers(ev)
    ev.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate, print a table (or JSON) and write the result file."""
    demo = args.model is None
    args.suite = args.suite or (DEMO_SUITE if demo else FULL_SUITE)
    files = _outputs(args)
    check_outputs(list(files.values()), inputs_of(args))
    if args.certify:
        pyplot("the --certify plot")
    if args.certify_time_limit is not None and args.certify not in ("mip", "bab"):
        raise UsageError("--certify-time-limit applies to --certify mip or --certify bab")
    if args.certify_time_limit is not None and not args.certify_time_limit > 0:
        raise UsageError(f"--certify-time-limit must be > 0, got {args.certify_time_limit}")
    if args.report:
        pyplot("the --report page")
    hint = _full_run_hint(args, files["out"].path)
    threat = threat_of(args)
    if not args.minimal:
        cascade = [name for name, _ in get_suite(args.suite, threat.name)]  # refuses a misfit
        refuse_unbounded([args.eps], cascade, "--eps", "--minimal deepfool")
        refuse_unbounded(_curve(args), cascade, "--eps-curve", "--minimal deepfool")
    with demo_threads() if demo else nullcontext():
        result = _run(args, files, threat)
    if demo and not args.json and not args.minimal and args.suite != FULL_SUITE:
        print("\n" + hint)
    return result


def _full_run_hint(args: argparse.Namespace, out: Path) -> str:
    """Which suite the demo ran and the command of the full evaluation."""
    cascade = " -> ".join(name for name, _ in SUITES[args.suite])
    full = " -> ".join(name for name, _ in SUITES[FULL_SUITE])
    twin = out.with_name(f"{out.stem}-{FULL_SUITE}{out.suffix}")
    given = [f"--{k.replace('_', '-')} {v}" for k, v in _given(args).items()]
    command = " ".join(["advkit evaluate --suite", FULL_SUITE, *given, "--out", str(twin)])
    return (
        f"suite `{args.suite}` ({cascade}) ran: the built-in demo's one-minute first look.\n"
        f"The full evaluation, suite `{FULL_SUITE}` ({full}), takes several minutes:\n"
        f"    {command}"
    )


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The data and threat options the user set that the full run must repeat."""
    keys = ("dataset", "split", "n", "norm", "eps", "eps_curve", "seed", "batch_size")
    defaults = {"split": "test", "norm": "linf", "seed": 0, "batch_size": 256}
    given = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    given = {k: v for k, v in given.items() if defaults.get(k, object()) != v}
    if "eps_curve" in given:
        given["eps_curve"] = ",".join(f"{e:g}" for e in given["eps_curve"])
    return given


def _run(args: argparse.Namespace, files: dict[str, Output], threat: ThreatModel) -> dict[str, Any]:
    """Load the model and data, evaluate, and write and print the results."""
    if args.minimal:
        refuse_ranks("--minimal")
        model, x, y, info = model_and_data(args)
        minimal = _run_minimal(args, threat, model, (x, y), info)
        _report(args, files)
        return minimal
    model, data, info = model_and_samples(args)  # read a batch at a time
    info["suite"] = args.suite
    if args.precision != "fp32":
        info["precision"] = args.precision
    out, store = files["out"].path, files["store"].path
    ev = _evaluate(args, model, data, threat, args.suite, store, info)
    first, evaluated = None, model
    if args.adaptive and ev.masking:
        evaluated, suite = adaptive_rerun(model, ev.masking, args.suite, threat.name)
        adaptive = files["adaptive"].path
        first, ev = ev, _evaluate(args, evaluated, data, threat, suite, adaptive, info)
    rows = None
    if args.certify:  # on every rank: the ranks share the certifier's batches
        certifier = make_certifier(args.certify, args.certify_time_limit)
        rows = sandwich(ev, model, data, threat, certifier)
    if not is_main():  # another rank of a distributed run: rank 0 writes the results
        return {}
    result = ev.to_dict()
    if first is not None:
        result["before_adaptive"] = first.to_dict(with_samples=False)
    if rows is not None:
        title = f"{info['model']} ({args.certify})"
        plot = atomic_write(files["plot"].path, lambda tmp: plot_sandwich(rows, tmp, title))
        result["sandwich"] = {
            "method": args.certify,
            "time_limit": getattr(certifier, "time_limit", None),
            "rows": [r.to_dict() for r in rows],
            "plot": str(plot),
        }
    result.update(evidence(args, files.get("examples"), ev, (model, data), threat))
    result["samples"] = result.pop("samples")  # the long part last
    write_json(out, result)
    exported = write_formats(args, files, ev)
    _print(args, ev, first, rows)
    if not args.json:
        print(f"\nresults written to {out} (per-sample records in {store})")
        for path in exported:
            print(f"also written: {path}")
    if "examples" in files and not args.skip_verify:
        verify_written(args, out, (model, data), is_random(evaluated))
    _report(args, files)
    return result


def _report(args: argparse.Namespace, files: dict[str, Output]) -> None:
    """With ``--report``, write the HTML report of the results just written."""
    if "report" in files:
        path = write_report(files["out"].path, files["report"].path)
        if not args.json:
            print(f"report written to {path}")


def _outputs(args: argparse.Namespace) -> dict[str, Output]:
    """The files this evaluation writes, by role: out, store, adaptive, plot and the
    ``--format`` exports (robustbench, csv)."""
    out = Path(args.out)
    files = {"out": Output("--out", out, "JSON results", (".json",)), **format_outputs(args)}
    if args.report:
        files["report"] = report_output(out.with_suffix(".html"))
    if args.minimal:
        return files
    option = "--store" if args.store else "--out"
    store = Path(args.store) if args.store else out.with_suffix(".sqlite")
    files["store"] = Output(option, store, "per-sample store", STORE_SUFFIXES)
    if args.adaptive:
        adaptive = store.with_name(store.stem + "-adaptive.sqlite")
        files["adaptive"] = Output(option, adaptive, "store of the --adaptive rerun")
    if args.certify:
        files["plot"] = Output("--out", out.with_suffix(".png"), "--certify plot")
    examples = examples_output(args, out)
    if examples is not None:
        files["examples"] = examples
    return files


def _curve(args: argparse.Namespace) -> list[float]:
    """The ε values of the curve: ``--eps-curve``, else the demo's (none for a model)."""
    if args.eps_curve is not None:
        return list(args.eps_curve)
    return [] if args.model else list(DEMO_CURVE)


def _evaluate(
    args: argparse.Namespace,
    model: nn.Module,
    data: Samples,
    threat: ThreatModel,
    suite: str | Suite,
    store: Path,
    info: dict[str, Any],
) -> Evaluation:
    """:func:`advkit.evaluate` with the options of ``args``, resuming from ``store``."""
    if args.fresh and store.exists() and is_main():
        lock = StoreLock(store)  # waits for a run still writing into it
        try:
            store.unlink()
        finally:
            lock.release()
    try:
        return evaluate(
            model,
            data,
            threat,
            suite,
            eps_curve=_curve(args),
            batch_size=args.batch_size,
            seed=args.seed,
            store=store,
            progress=not args.quiet,
            info=info,
            eot_samples=args.eot_samples,
            estimates=args.estimates,
            precision=args.precision,
            keep_examples=args.save_adv != "none",
        )
    except StoreMismatch as err:
        raise UsageError(f"{err} (or pass --fresh)") from err
    except sqlite3.DatabaseError as err:
        raise UsageError(
            f"the per-sample store {store} cannot be read ({err}); rerun with --fresh to "
            "discard it and recompute, or choose another --store (if another advkit run "
            "is using it, wait for it to finish)"
        ) from err


def _print(
    args: argparse.Namespace,
    ev: Evaluation,
    first: Evaluation | None,
    rows: list[SandwichRow] | None,
) -> None:
    """The evaluation as JSON (without per-sample records) or as tables."""
    if args.json:
        brief = ev.to_dict(with_samples=False)
        if rows is not None:
            brief["sandwich"] = [r.to_dict(with_status=False) for r in rows]
        print(to_json(brief))
        return
    if first is not None:
        print(first.table())
        print("\n--adaptive: re-evaluated with the attacks the flags name\n")
    elif args.adaptive:
        print("--adaptive: no gradient-masking flags, the suite's result stands\n")
    print(ev.table())
    if rows is not None:
        print("\n" + sandwich_table(rows, args.certify))


def _run_minimal(
    args: argparse.Namespace,
    threat: ThreatModel,
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    info: dict[str, Any],
) -> dict[str, Any]:
    """One minimal-distortion attack: distortion report and the curve from its distances."""
    rep = evaluate_minimal(
        model,
        data,
        threat,
        make_attack(args.minimal),
        name=args.minimal,
        eps_curve=args.eps_curve or [],
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.quiet,
        info=info,
    )
    result = rep.to_dict()
    out = write_json(Path(args.out), result)
    if args.json:
        print(to_json(rep.to_dict(with_samples=False)))
    else:
        print(rep.table())
        print(f"\nresults written to {out}")
    return result
