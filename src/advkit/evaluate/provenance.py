"""Where results came from: how to load the model, data and threat again, and their
fingerprint, so that ``advkit verify`` re-checks the very evaluation that wrote them.

Problem solved: re-checking adversarial examples against another model or other data
proves nothing. ``advkit evaluate`` records a :class:`RunSource` (the model spec, dataset,
split, sample count, data folder and threat model, paths made absolute) and a
:class:`Fingerprint` (the model's identity, :mod:`advkit.evaluate.fingerprint`, and a
digest of the data); ``advkit verify`` loads the source again and refuses to go on when
the fingerprint differs, naming what differs.

Example:
    >>> from advkit.evaluate.provenance import RunSource
    >>> source = RunSource(model=None, checkpoint=None, dataset="digits", n=20)
    >>> model, data = source.load()  # doctest: +SKIP
    >>> source.threat()
    Linf(eps=0.1, lo=0.0, hi=1.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from torch import Tensor, nn

from advkit.data.samples import Samples, open_samples
from advkit.demo import DEMO_EPS, demo_model
from advkit.evaluate.fingerprint import ModelIdentity, model_identity
from advkit.evaluate.scan import DataScan
from advkit.models.declared import adapt_declared, load_declared
from advkit.models.input_spec import InputSpec
from advkit.threat import THREATS, ThreatModel

__all__ = ["Fingerprint", "RunSource"]


@dataclass(frozen=True)
class RunSource:
    """How an evaluation's model, data and threat model were loaded.

    Attributes:
        model: a registry name, ``"package.module:factory"`` or a TorchScript file; None
            for the built-in digits CNN.
        checkpoint: the weights file (absolute), or None.
        dataset: a dataset name of :data:`advkit.data.DATASETS`.
        split: ``"train"``, ``"test"`` or ``"all"``.
        n: the first ``n`` samples; None for all.
        data_dir: the local folder the data came from (absolute), or None.
        verify_data: whether ``data_dir``'s files had to be the official ones.
        norm: the threat model's name (``"linf"``, ``"l2"``, ``"l1"``, ``"l0"``).
        eps: the main ε.
        lo: the input box's lower bound.
        hi: the input box's upper bound.
        layout: the input layout the model expects (``"nchw"`` or ``"nhwc"``).
        mean: the per-channel mean the model was declared to expect, or None.
        std: the per-channel standard deviation declared with ``mean``, or None.
    """

    model: str | None
    checkpoint: str | None
    dataset: str
    split: str = "test"
    n: int | None = None
    data_dir: str | None = None
    verify_data: bool = True
    norm: str = "linf"
    eps: float = DEMO_EPS
    lo: float = 0.0
    hi: float = 1.0
    layout: str = "nchw"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @classmethod
    def from_dict(cls, values: Any) -> RunSource:
        """The source of a :meth:`to_dict` mapping (the results' ``"source"``)."""
        names = [f.name for f in fields(cls)]
        if not isinstance(values, dict) or any(n not in values for n in names):
            raise ValueError(
                f"the results do not say how to load the model and data again (a "
                f'"source" with {names}); only results written by advkit evaluate can be '
                "verified"
            )
        return cls(**{n: values[n] for n in names})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field."""
        return asdict(self)

    def threat(self) -> ThreatModel:
        """The threat model at the main ε."""
        return THREATS[self.norm](self.eps, self.lo, self.hi)

    def describe(self) -> str:
        """``"<model> on <dataset>/<split>"`` for messages."""
        model = self.model or "the built-in digits CNN"
        weights = f" (weights {self.checkpoint})" if self.checkpoint else ""
        return f"{model}{weights} on {self.dataset}/{self.split}"

    def load(self) -> tuple[nn.Module, Samples]:
        """The model (eval mode) and the samples, loaded as the evaluation did (read a
        batch at a time)."""
        data = open_samples(
            self.dataset,
            split=self.split,
            data_dir=self.data_dir,
            n=self.n,
            verify=self.verify_data,
        )
        if self.model is None:
            return demo_model(), data
        spec = InputSpec(self.layout, _floats(self.mean), _floats(self.std))
        model = load_declared(
            self.model, self.checkpoint, spec, dataset=self.dataset, norm=self.norm
        )
        x, _ = data.take([0])
        model = adapt_declared(self.model, model, spec, tuple(x.shape[1:]))
        return model, data


def _floats(values: Any) -> tuple[float, ...] | None:
    """A JSON list of numbers as a tuple (None stays None)."""
    return None if values is None else tuple(float(v) for v in values)


@dataclass(frozen=True)
class Fingerprint:
    """The identity of an evaluation's model and data.

    Attributes:
        model: the model's identity key (a hash of its weights, then of its layers).
        outputs: its logits on the fixed probe batch (None for a random model).
        data: a digest of the inputs as the model saw them and of the labels.
    """

    model: str
    outputs: tuple[float, ...] | None
    data: str

    @classmethod
    def of_scan(cls, model: nn.Module, scan: DataScan, threat: ThreatModel) -> Fingerprint:
        """The fingerprint of ``model`` and the data a pass of :func:`scan_samples` read."""
        return cls.of_digest(model, scan.first, scan.digest, threat)

    @classmethod
    def of_digest(
        cls, model: nn.Module, like: Tensor, digest: str, threat: ThreatModel
    ) -> Fingerprint:
        """The fingerprint of ``model`` and data already digested (``digest``, as
        :attr:`Evaluation.data_digest <advkit.evaluate.report.Evaluation>`); ``like``: a
        batch of it as the model sees it (the probe's shape, dtype and device)."""
        identity = model_identity(model, like, threat.lo, threat.hi)
        return cls(identity.key, identity.outputs, digest)

    @classmethod
    def from_dict(cls, values: Any) -> Fingerprint:
        """The fingerprint of a :meth:`to_dict` mapping (the results' ``"fingerprint"``)."""
        if not isinstance(values, dict) or not {"model", "outputs", "data"} <= set(values):
            raise ValueError(
                'the results carry no fingerprint of the model and data ("fingerprint" '
                "with model, outputs, data); only results written by advkit evaluate can "
                "be verified"
            )
        outputs = values["outputs"]
        floats = None if outputs is None else tuple(float(v) for v in outputs)
        return cls(str(values["model"]), floats, str(values["data"]))

    @property
    def unknown(self) -> str | None:
        """Why the model's identity cannot be established (a random model whose settings
        advkit cannot describe, or one failing on the probe batch); None when it can."""
        prefix = "unidentified: "
        return self.model[len(prefix) :] if self.model.startswith(prefix) else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        outputs = None if self.outputs is None else list(self.outputs)
        return {"model": self.model, "outputs": outputs, "data": self.data}

    def differences(self, recorded: Fingerprint) -> list[str]:
        """What differs from the ``recorded`` fingerprint: ``"weights"``, ``"layers"``
        (and settings), ``"outputs on the probe batch"``, ``"data"``; empty when nothing.

        The model's weights and layers are compared by their hashes, its function by the
        probe outputs (up to float rounding), and the data by its digest.
        """
        found = []
        weights, _, layers = self.model.partition("-")
        old_weights, _, old_layers = recorded.model.partition("-")
        if weights != old_weights:
            found.append("weights")
        if layers != old_layers:
            found.append("layers")
        same = ModelIdentity(self.model, self.outputs).same_outputs(recorded.outputs)
        if not found and not same:
            found.append("outputs on the probe batch")
        if self.data != recorded.data:
            found.append("data")
        return found
