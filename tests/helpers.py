"""Small helpers shared by the tests."""

from __future__ import annotations

import numpy as np


def binary_frames(rng: np.random.Generator, batch: int, n: int, density: float = 0.5) -> np.ndarray:
    """Random binary DMD frames (batch, n) uint8 from numpy's reference generator."""
    return (rng.random((batch, n)) < density).astype(np.uint8)


def ks_critical(n: int, alpha: float = 1e-3) -> float:
    """Asymptotic one-sample Kolmogorov-Smirnov critical value c(alpha) / sqrt(n)."""
    return float(np.sqrt(-0.5 * np.log(alpha / 2.0)) / np.sqrt(n))


def sample_var_se(x: np.ndarray) -> float:
    """Standard error of the sample variance, estimated from the data: sd((x - mean)^2) / sqrt(n)."""
    d2 = (x - x.mean()) ** 2
    return float(d2.std(ddof=1) / np.sqrt(x.size))


def stderr_lines(err: str) -> list[str]:
    """The non-blank lines of a command's stderr."""
    return [ln for ln in err.splitlines() if ln.strip()]


def one_line(err: str) -> str:
    """The only non-blank line of a command's stderr (fails if there are several or none)."""
    lines = stderr_lines(err)
    assert len(lines) == 1, lines
    return lines[0]
