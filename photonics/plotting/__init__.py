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
    """Save ``fig`` as PNG atomically (temporary file renamed into place) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    try:
        fig.tight_layout()
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path
