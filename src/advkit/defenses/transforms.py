"""Input-transformation defenses as ``nn.Module`` s that compose with any model.

Each transform maps images (N, C, H, W) in [0, 1] to images of the same shape, dtype and
range, and declares (through :class:`advkit.traits.Traits`) two facts an honest evaluation
needs:

- ``differentiable``: whether autograd gives a useful input gradient through it. A
  non-differentiable transform (quantization, JPEG, numpy code) reports a **zero** input
  gradient, which is exactly what makes plain gradient attacks fail against it
  ("obfuscated gradients", Athalye, Carlini & Wagner 2018).
- ``random``: whether its output depends on random draws (from the module's own
  ``torch.Generator``, never the global RNG), so attacks must average over them (EOT).

Inside :func:`advkit.traits.bpda` the backward pass of every non-differentiable transform
is replaced by that of its differentiable approximation (identity by default): BPDA, the
Backward Pass Differentiable Approximation. :func:`advkit.evaluate` turns BPDA and EOT on
by itself when the model contains these transforms (see :mod:`advkit.attacks.adaptive`).

Transforms: :class:`BitDepth` (Xu et al. 2018), :class:`JPEG` (Dziugaite et al. 2016,
Guo et al. 2018; Pillow), :class:`MedianFilter` (Xu et al. 2018), :class:`NonLocalMeans`
(Xu et al. 2018; scikit-image), :class:`TVDenoise` (total-variation minimization with
random pixel dropout, Guo et al. 2018; scikit-image), :class:`RandomResizePad`
(Xie et al. 2018). :class:`FunctionTransform` wraps your own function.

Example:
    >>> import torch
    >>> from advkit.defenses.transforms import JPEG
    >>> from advkit.traits import bpda
    >>> model = torch.nn.Sequential(JPEG(quality=75), torch.nn.Flatten(),
    ...                             torch.nn.Linear(64, 10))
    >>> x = torch.rand(2, 1, 8, 8, requires_grad=True)
    >>> model(x).sum().backward()
    >>> float(x.grad.abs().sum())  # the gradient is masked
    0.0
    >>> with bpda():
    ...     model(x).sum().backward()
    >>> float(x.grad.abs().sum()) > 0
    True
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advkit.traits import Traits, surrogate_output

__all__ = [
    "JPEG",
    "BitDepth",
    "FunctionTransform",
    "InputTransform",
    "MedianFilter",
    "NonLocalMeans",
    "RandomResizePad",
    "TVDenoise",
]


def _check_images(x: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(
            f"input transforms take images of shape (N, C, H, W), got {tuple(x.shape)}"
        )


class InputTransform(Traits, nn.Module):
    """Base class: an image-to-image preprocessing layer with declared traits.

    Subclasses implement :meth:`transform` (the exact forward, which may call numpy or
    draw from ``self.generator``) and may override :meth:`approximation` (BPDA's
    differentiable stand-in, identity by default). Non-differentiable unless declared.

    Args:
        seed: seed of the transform's own generator (random transforms only).
    """

    differentiable: ClassVar[bool] = False

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)

    def transform(self, x: Tensor) -> Tensor:
        """The exact transform of images x (N, C, H, W) in [0, 1]."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x)
        if self.differentiable:
            return self.transform(x)
        with torch.no_grad():
            out = self.transform(x.detach()).to(x.dtype)
        return surrogate_output(self, x, out)


class FunctionTransform(InputTransform):
    """Your own (possibly non-differentiable or random) preprocessing, made BPDA-ready.

    Args:
        fn: maps (N, C, H, W) images in [0, 1] to images of the same shape; a random
            ``fn`` takes the generator as second argument.
        differentiable: whether autograd through ``fn`` gives useful gradients.
        random: whether ``fn`` draws random numbers (then called as ``fn(x, generator)``).
        approximation: BPDA's differentiable stand-in (default identity).
        seed: seed of the generator passed to a random ``fn``.
    """

    def __init__(
        self,
        fn: Callable[..., Tensor],
        *,
        differentiable: bool = False,
        random: bool = False,
        approximation: Callable[[Tensor], Tensor] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        self.fn = fn
        self._approx = approximation
        self._differentiable, self._random = differentiable, random

    @property
    def differentiable(self) -> bool:  # type: ignore[override]
        return self._differentiable

    @property
    def random(self) -> bool:  # type: ignore[override]
        return self._random

    def transform(self, x: Tensor) -> Tensor:
        return self.fn(x, self.generator) if self._random else self.fn(x)

    def approximation(self, x: Tensor) -> Tensor:
        return x if self._approx is None else self._approx(x)


class BitDepth(InputTransform):
    """Bit-depth reduction to ``bits`` bits per channel (Xu, Evans & Qi 2018).

    Args:
        bits: bits per channel, 1 to 8 (1 binarizes at 0.5; the feature-squeezing MNIST
            choice).
    """

    def __init__(self, bits: int = 4) -> None:
        super().__init__()
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be in 1..8, got {bits}")
        self.bits = bits

    def transform(self, x: Tensor) -> Tensor:
        levels = 2**self.bits - 1
        return torch.round(x.clamp(0, 1) * levels) / levels


class JPEG(InputTransform):
    """JPEG compression and decompression with Pillow at a given quality.

    Args:
        quality: JPEG quality 1..95 (default 75, Guo et al. 2018).
    """

    def __init__(self, quality: int = 75) -> None:
        super().__init__()
        if not 1 <= quality <= 95:
            raise ValueError(f"quality must be in 1..95, got {quality}")
        self.quality = quality

    def transform(self, x: Tensor) -> Tensor:
        from PIL import Image

        if x.shape[1] not in (1, 3):
            raise ValueError(f"JPEG needs 1 or 3 channels, got {x.shape[1]}")
        arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        out = np.empty_like(arr)
        for i, img in enumerate(arr):
            pil = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
            buf = io.BytesIO()
            pil.save(buf, format="JPEG", quality=self.quality)
            buf.seek(0)
            dec = np.asarray(Image.open(buf).convert("L" if img.shape[2] == 1 else "RGB"))
            out[i] = dec.reshape(img.shape)
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255


class MedianFilter(InputTransform):
    """Median smoothing over a size×size window with reflect padding (Xu et al. 2018).

    Differentiable almost everywhere (the gradient flows to the selected pixel), so no
    BPDA is needed; deterministic.

    Args:
        size: window size (default 3; even sizes pad one more pixel on the bottom right).
    """

    differentiable: ClassVar[bool] = True

    def __init__(self, size: int = 3) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size

    def transform(self, x: Tensor) -> Tensor:
        k = self.size
        before, after = (k - 1) // 2, k // 2
        n, c, h, w = x.shape
        padded = F.pad(x, (before, after, before, after), mode="reflect")
        patches = padded.unfold(2, k, 1).unfold(3, k, 1).reshape(n, c, h, w, k * k)
        return patches.median(dim=-1).values


def _per_image(x: Tensor, fn: Callable[[np.ndarray], np.ndarray]) -> Tensor:
    """Apply a numpy function to each (H, W, C) image of x (N, C, H, W)."""
    arr = x.detach().permute(0, 2, 3, 1).cpu().double().numpy()
    out = np.stack([np.asarray(fn(img)).reshape(img.shape) for img in arr])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, x.dtype).clamp(0, 1)


class NonLocalMeans(InputTransform):
    """Non-local means denoising with scikit-image (Xu et al. 2018's color squeezer).

    Args:
        patch_size: patch side (default 3). patch_distance: search radius (default 2).
        h: filtering strength (default 0.1 on [0, 1] images).
    """

    def __init__(self, patch_size: int = 3, patch_distance: int = 2, h: float = 0.1) -> None:
        super().__init__()
        self.patch_size, self.patch_distance, self.h = patch_size, patch_distance, h

    def transform(self, x: Tensor) -> Tensor:
        from skimage.restoration import denoise_nl_means

        return _per_image(
            x,
            lambda img: denoise_nl_means(
                img,
                patch_size=self.patch_size,
                patch_distance=self.patch_distance,
                h=self.h,
                channel_axis=-1,
            ),
        )


class TVDenoise(InputTransform):
    """Total-variation minimization with random pixel dropout (Guo et al. 2018).

    Each pixel is kept with probability ``keep`` (drawn from the module's generator);
    dropped pixels are filled with the mean of the kept pixels in their 3×3 neighbourhood,
    and the image is then TV-denoised (Chambolle's algorithm, scikit-image). Random and
    non-differentiable: evaluate it with BPDA + EOT.

    Args:
        keep: probability of keeping a pixel (default 0.5).
        weight: TV weight (default 0.05).
        seed: seed of the dropout generator.
    """

    random: ClassVar[bool] = True

    def __init__(self, keep: float = 0.5, weight: float = 0.05, seed: int = 0) -> None:
        super().__init__(seed)
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        self.keep, self.weight = keep, weight

    def transform(self, x: Tensor) -> Tensor:
        from skimage.restoration import denoise_tv_chambolle

        n, c, h, w = x.shape
        mask = (
            torch.rand(n, 1, h, w, generator=self.generator, device=self.generator.device)
            < self.keep
        ).to(x)
        ones = torch.ones(c, 1, 3, 3, dtype=x.dtype)
        num = F.conv2d(x * mask, ones, padding=1, groups=c)
        den = F.conv2d(mask.expand(n, c, h, w), ones, padding=1, groups=c)
        filled = torch.where(mask.bool(), x, num / den.clamp_min(1.0))
        return _per_image(
            filled, lambda img: denoise_tv_chambolle(img, weight=self.weight, channel_axis=-1)
        )


class RandomResizePad(InputTransform):
    """Random resizing and padding (Xie et al. 2018), shape-preserving.

    Each image is resized (bilinear) to a random side r ∈ [⌈min_scale·H⌉, H] and
    zero-padded at a random offset back to H×W. Differentiable, random: evaluate with EOT.

    Args:
        min_scale: smallest relative size (default 0.8).
        seed: seed of the generator.
    """

    differentiable: ClassVar[bool] = True
    random: ClassVar[bool] = True

    def __init__(self, min_scale: float = 0.8, seed: int = 0) -> None:
        super().__init__(seed)
        if not 0.0 < min_scale <= 1.0:
            raise ValueError(f"min_scale must be in (0, 1], got {min_scale}")
        self.min_scale = min_scale

    def transform(self, x: Tensor) -> Tensor:
        _, _, h, w = x.shape
        lo = max(1, int(np.ceil(self.min_scale * min(h, w))))
        rows = []
        for img in x:
            r = int(
                torch.randint(
                    lo, min(h, w) + 1, (1,), generator=self.generator, device=self.generator.device
                )
            )
            small = F.interpolate(img[None], size=(r, r), mode="bilinear", align_corners=False)
            top = int(
                torch.randint(
                    0, h - r + 1, (1,), generator=self.generator, device=self.generator.device
                )
            )
            left = int(
                torch.randint(
                    0, w - r + 1, (1,), generator=self.generator, device=self.generator.device
                )
            )
            rows.append(F.pad(small, (left, w - r - left, top, h - r - top)))
        return torch.cat(rows).clamp(0, 1)
