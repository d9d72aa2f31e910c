"""A medium whose whole transmission matrix is held in memory (shared by the non-Gaussian models).

The matrix is stored once, in the split layout the projection uses: a float32 array
``w`` (n_cols, 2 n_out) with ``w[j, i] = Re T_ij`` and ``w[j, n_out + i] = Im T_ij``, so that
for real inputs x the split field is the single real GEMM ``x @ w[cols]`` (the same layout as
the dense Gaussian medium). ``matrix`` rebuilds complex64 blocks from it.
"""

from __future__ import annotations

import numpy as np

from ..config import DENSE_LIMIT_BYTES
from ..errors import ShapeError, ValidationError
from .base import Medium, as_slice

__all__ = ["DenseMedium", "split_layout", "check_dense_size"]


def check_dense_size(n_out: int, n_cols: int, what: str) -> None:
    """Raise ValidationError if a dense complex64 n_out x n_cols matrix exceeds the dense limit."""
    nbytes = 8 * int(n_out) * int(n_cols)
    if nbytes > DENSE_LIMIT_BYTES:
        raise ValidationError(
            f"{what}: the {n_out} x {n_cols} transmission matrix would need {nbytes / 2**30:.1f} GiB in memory "
            f"(limit {DENSE_LIMIT_BYTES / 2**30:.0f} GiB); this model is dense only, use smaller sizes"
        )


def split_layout(t: np.ndarray) -> np.ndarray:
    """Split layout (n_cols, 2 n_rows) float32 [Re T^T | Im T^T] of a complex (n_rows, n_cols) block."""
    t = np.asarray(t)
    n_rows, n_cols = t.shape
    w = np.empty((n_cols, 2 * n_rows), dtype=np.float32)
    w[:, :n_rows] = t.real.T
    w[:, n_rows:] = t.imag.T
    return w


class DenseMedium(Medium):
    """A medium defined by a complex matrix T (n_out x n_cols) held in memory.

    Parameters
    ----------
    tm : ndarray (n_out, n_cols), complex
        The whole TM: signal columns 0:n_in, then the reference columns.
    n_in : int
        Signal columns.
    """

    def __init__(self, tm: np.ndarray, n_in: int):
        tm = np.asarray(tm)
        if tm.ndim != 2:
            raise ShapeError(f"tm must be a 2-D matrix (n_out, n_cols) (got shape {tm.shape})")
        self.n_out, self.n_cols = (int(v) for v in tm.shape)
        self.n_in = int(n_in)
        if not 1 <= self.n_in <= self.n_cols:
            raise ValidationError(f"n_in must be in [1, n_cols={self.n_cols}] (got {n_in})")
        self._w = split_layout(tm)

    def _set_split(self, w: np.ndarray, n_in: int) -> None:
        """Adopt an already built split layout (n_cols, 2 n_out) float32."""
        self._w = np.ascontiguousarray(w, dtype=np.float32)
        self.n_cols = self._w.shape[0]
        self.n_out = self._w.shape[1] // 2
        self.n_in = int(n_in)

    def _split(self, rows: slice, cols: slice) -> np.ndarray:
        w = self._w
        if rows.start == 0 and rows.stop == self.n_out:
            return w[cols]
        re = w[cols, rows.start : rows.stop]
        im = w[cols, self.n_out + rows.start : self.n_out + rows.stop]
        return np.concatenate([re, im], axis=1)

    def matrix(self, rows=None, cols=None, time_s: float = 0.0) -> np.ndarray:
        rows = as_slice(rows, self.n_out, "rows")
        cols = self._cols(cols)
        w = self._w
        re = w[cols, rows.start : rows.stop]
        im = w[cols, self.n_out + rows.start : self.n_out + rows.stop]
        return (re + 1j * im).T.astype(np.complex64)

    def split_field(self, x, cols=None, rows=None, time_s: float = 0.0) -> np.ndarray:
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        self._check_x(x, cols)
        x = np.ascontiguousarray(x, dtype=np.float32)
        return x @ self._split(rows, cols)

    def column_sum(self, cols, rows=None, time_s: float = 0.0) -> np.ndarray:
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        acc = self._split(rows, cols).sum(axis=0, dtype=np.float64)
        n = rows.stop - rows.start
        return acc[:n] + 1j * acc[n:]
