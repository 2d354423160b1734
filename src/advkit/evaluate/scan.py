"""One pass over an evaluation's samples, a batch at a time, before any attack.

Problem solved: an evaluation must refuse bad data (NaN, values outside the box, labels
the model cannot output) and identify its data for the store and the results before it
spends hours attacking, yet it must not hold 50,000 images at once. :func:`scan_samples`
reads the samples batch by batch (:class:`~advkit.data.samples.Samples`), checks each
batch, and keeps only the labels, a digest of the inputs as the model sees them (equal
to :func:`~advkit.evaluate.fingerprint.tensor_digest` of the whole tensors) and the
first batch.

Example:
    >>> import torch
    >>> from advkit.data.samples import Samples
    >>> from advkit.evaluate.fingerprint import tensor_digest
    >>> from advkit.evaluate.scan import scan_samples
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> x, y = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    >>> scan = scan_samples(model, Samples.of((x, y)), 0.0, 1.0, batch_size=2)
    >>> scan.classes, scan.digest == tensor_digest(x, y)
    (3, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advkit.access import eval_mode
from advkit.access.precision import model_input
from advkit.data.samples import Samples
from advkit.evaluate.fingerprint import DigestStream
from advkit.validate import check_batch, check_labels, check_model_accepts

__all__ = ["DataScan", "scan_samples"]


@dataclass(frozen=True)
class DataScan:
    """What one pass over the samples found.

    Attributes:
        labels: every sample's label (N,) int64, on the samples' device.
        digest: :func:`~advkit.evaluate.fingerprint.tensor_digest` of the inputs as the
            model sees them (its dtype) and of the labels.
        first: the first batch as the model sees it (its shape, dtype and device make
            the model's identity probe).
        classes: the number of classes the model outputs.
        correct: with ``clean=True``, whether the model classifies each clean sample
            correctly (N,) bool; else None.
    """

    labels: Tensor
    digest: str
    first: Tensor
    classes: int
    correct: Tensor | None = None


def scan_samples(
    model: nn.Module,
    samples: Samples,
    lo: float,
    hi: float,
    batch_size: int = 256,
    *,
    clean: bool = False,
) -> DataScan:
    """Check every batch of ``samples`` and digest them, holding one batch at a time;
    with ``clean``, also classify every clean sample in the same pass.

    Raises:
        ValueError, TypeError: a batch with NaN, values outside ``[lo, hi]``, a wrong
            dtype or shape, labels outside the model's classes, or a model that fails on
            the inputs; the message names the samples' positions.
    """
    if len(samples) == 0:
        raise ValueError("x is an empty batch")
    digest, labels, correct = DigestStream(), [], []
    first: Tensor | None = None
    classes = 0
    for rows, x, y in samples.batches(batch_size):
        try:
            check_batch(x, y, lo=lo, hi=hi, index=rows)
        except (ValueError, TypeError) as err:
            if len(samples) == len(rows):
                raise
            raise type(err)(f"{err} (in the batch of samples {rows[0]}-{rows[-1]})") from err
        seen = model_input(model, x)
        if first is None:
            first = seen
            with eval_mode(model):
                classes = check_model_accepts(model, seen)
            digest.begin((len(samples), *seen.shape[1:]), seen.dtype)
        digest.add(seen)
        labels.append(y.long())
        if clean:
            with eval_mode(model, warn=False), torch.no_grad():
                correct.append(model(seen.clone()).argmax(1) == y)
    assert first is not None
    y_all = torch.cat(labels)
    check_labels(y_all, classes)
    digest.begin(tuple(y_all.shape), y_all.dtype)
    digest.add(y_all)
    verdicts = torch.cat(correct) if clean else None
    return DataScan(y_all, digest.hexdigest(), first, classes, verdicts)
