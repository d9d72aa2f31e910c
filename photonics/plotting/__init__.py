"""Plots (matplotlib only here, imported lazily, Agg backend: works without a display).

One module per topic (``speckle``, ``calibration``...); each function takes results and a
path, writes a PNG atomically and returns the path.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["new_figure", "save_figure"]


def new_figure(*args, **kwargs):
    """``plt.subplots`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``fig`` atomically (:func:`photonics.io.atomic_path`) and close it; the format
    follows the file suffix (PNG when there is none)."""
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)
    finally:
        plt.close(fig)
    return path
