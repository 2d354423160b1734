"""Pictures of universal perturbations: one panel per ε, δ on a scale of ±ε.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from advkit.evaluate.universal_plot import plot_perturbations
    >>> path = Path(tempfile.mkdtemp()) / "delta.png"
    >>> out = plot_perturbations({0.1: torch.rand(1, 1, 8, 8) * 0.2 - 0.1}, path, "L∞")
    >>> out.suffix
    '.png'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from torch import Tensor

from advkit.evaluate.figures import pyplot, save_figure

__all__ = ["plot_perturbations"]


def plot_perturbations(deltas: Mapping[float, Tensor], path: str | Path, norm: str) -> Path:
    """Write one panel per ε to ``path`` (PNG, PDF or SVG by its suffix).

    A one-channel δ is drawn in a diverging map from −ε (blue) to +ε (red); a colour δ
    as 0.5 + δ / (2ε) per channel, so gray is no change.

    Args:
        deltas: each ε's perturbation, shape (1, C, H, W) (or (1, D), drawn as a row).
        path: the image file.
        norm: the norm's name for the titles (``"L∞"``).
    """
    plt = pyplot("the universal perturbation image")
    fig, axes = plt.subplots(1, len(deltas), figsize=(2.6 * len(deltas), 2.8), squeeze=False)
    for ax, (eps, delta) in zip(axes[0], deltas.items(), strict=True):
        d = delta[0].detach().double().cpu().numpy()
        scale = max(float(np.abs(d).max()), 1e-12)
        if d.ndim == 3 and d.shape[0] == 3:
            ax.imshow(np.clip(0.5 + d.transpose(1, 2, 0) / (2 * scale), 0, 1))
        else:
            image = d[0] if d.ndim == 3 else d.reshape(1, -1)
            ax.imshow(image, cmap="seismic", vmin=-scale, vmax=scale)
        ax.set_title(f"{norm} ε={eps:g}\nmax |δ|={scale:.3g}", fontsize=9)
        ax.axis("off")
    return save_figure(fig, path)
