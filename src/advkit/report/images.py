"""Images of the report's gallery: one input as a small PNG ``data:`` URI, and the
amplified difference between a clean input and its adversarial example.

An input is a (C, H, W) tensor (C = 1 or 3) or an (H, W, C) one in the box ``[lo, hi]``;
anything else (a flat vector, a tabular row) has no picture, and :func:`image_uri`
returns None so that the page says so. Small images are enlarged (nearest neighbour,
so that every pixel stays visible) to about :data:`SIZE` pixels.

Example:
    >>> import torch
    >>> from advkit.report.images import difference, image_uri
    >>> image_uri(torch.zeros(1, 8, 8), 0.0, 1.0)[:22]
    'data:image/png;base64,'
    >>> image_uri(torch.zeros(64), 0.0, 1.0) is None
    True
    >>> difference(torch.zeros(1, 2, 2), torch.full((1, 2, 2), 0.25))[1]
    2.0
"""

from __future__ import annotations

import base64
import io

import torch
from PIL import Image
from torch import Tensor

__all__ = ["SIZE", "difference", "image_uri"]

SIZE = 96
"""The approximate width in pixels of a gallery image."""


def image_uri(x: Tensor, lo: float, hi: float) -> str | None:
    """``x`` as a PNG data URI, values of ``[lo, hi]`` mapped to black..white; None when
    ``x`` is not an image."""
    pixels = _hwc(x)
    if pixels is None:
        return None
    scaled = (pixels.double() - lo) / max(hi - lo, 1e-12)
    array = (scaled.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    factor = max(1, SIZE // max(image.width, image.height))
    image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def difference(x: Tensor, x_adv: Tensor) -> tuple[Tensor, float]:
    """``x_adv - x`` amplified into [0, 1] around mid-grey, and the amplification.

    The largest absolute difference maps to black or white (gain ``0.5 / max``), so the
    smallest perturbation stays visible; a zero difference is plain grey (gain 1).
    """
    delta = x_adv.double() - x.double()
    largest = float(delta.abs().max()) if delta.numel() else 0.0
    gain = 0.5 / largest if largest > 0 else 1.0
    return (0.5 + gain * delta).clamp(0, 1), gain


def _hwc(x: Tensor) -> Tensor | None:
    """``x`` as (H, W, C) with C in {1, 3}, or None when it is not an image."""
    if x.dim() == 2:
        return x.unsqueeze(-1)
    if x.dim() != 3:
        return None
    if x.shape[0] in (1, 3):
        return x.permute(1, 2, 0)
    if x.shape[2] in (1, 3):
        return x
    return None
