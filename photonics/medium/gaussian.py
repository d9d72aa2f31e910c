"""The ideal medium: i.i.d. circular complex Gaussian transmission matrix.

T_ij ~ CN(0, 1/n_in): Re and Im independent N(0, 1/(2 n_in)). Entry (i, j) is a pure
function of (seed, i, j) through the counter-based generator of :mod:`photonics.kernels`,
so the *dense* storage (the whole matrix materialised once) and the *procedural* storage
(regenerated block by block inside each projection, never stored) hold the same numbers,
and a block computed in any order, by any thread or worker, is the same.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .. import kernels
from ..errors import ValidationError
from ..rng import stream_key
from .base import Medium, as_slice

log = logging.getLogger(__name__)

__all__ = ["GaussianMedium", "auto_block_rows", "BLOCK_BYTES"]

#: Target size of one generated block of T in the split float32 layout [bytes].
BLOCK_BYTES = 64 * 1024**2


def auto_block_rows(n_cols: int, n_out: int, budget_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block so that a block (n_cols x 2 rows float32) takes about ``budget_bytes``.

    At least 8 rows (one block of 8 rows of a 1e6-column TM is 64 MB), at most n_out.
    """
    rows = budget_bytes // (8 * max(1, int(n_cols)))
    return int(max(1, min(int(n_out), max(8, rows))))


class GaussianMedium(Medium):
    """I.i.d. CN(0, 1/n_in) transmission matrix, dense or procedural.

    Parameters
    ----------
    n_in : int
        Signal input modes (sets the normalisation E|T_ij|^2 = 1/n_in).
    n_out : int
        Output pixels.
    seed : int
        Seed of the static disorder.
    n_cols : int, optional
        Addressable columns (signal + reference modes); defaults to ``n_in``.
    procedural : bool
        If True, never store T: each projection regenerates row blocks of ``block_rows`` rows.
        If False, generate the signal columns once into memory (float32 split layout).
    block_rows : int
        Rows generated per block (procedural mode and generation of dense storage); 0 (the
        default) sizes blocks to about ``BLOCK_BYTES`` of float32 (:func:`auto_block_rows`):
        large enough that the GEMM of a block amortises its generation, small enough for
        n_in ~ 1e6.
    """

    def __init__(self, n_in: int, n_out: int, seed: int, *, n_cols: int | None = None, procedural: bool = False, block_rows: int = 0):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.n_cols = int(n_cols if n_cols is not None else n_in)
        if self.n_cols < self.n_in:
            raise ValidationError(f"n_cols must be >= n_in={self.n_in} (got {self.n_cols})")
        self.seed = int(seed)
        self.key = np.uint64(stream_key(self.seed, "medium", "gaussian"))
        self.sigma = math.sqrt(0.5 / self.n_in)
        self.procedural = bool(procedural)
        self.block_rows = int(block_rows) if int(block_rows) > 0 else auto_block_rows(self.n_cols, self.n_out)
        self._w: np.ndarray | None = None  # dense split layout (n_in, 2 n_out), signal columns
        if not self.procedural:
            self._w = self._generate(slice(0, self.n_out), slice(0, self.n_in))

    # -- generation ---------------------------------------------------------------------------
    def _generate(self, rows: slice, cols: slice) -> np.ndarray:
        """Split layout (n_cols_sel, 2 n_rows) of T[rows, cols]: [Re T^T | Im T^T]."""
        n_rows = rows.stop - rows.start
        n_cols = cols.stop - cols.start
        out = np.empty((n_cols, 2 * n_rows), dtype=np.float32)
        kernels.gaussian_block_fast_numba(self.key, rows.start, n_rows, cols.start, n_cols, self.sigma, out)
        return out

    def split_block(self, rows: slice, cols: slice) -> np.ndarray:
        """Public access to the split layout of a block, regenerated from the seed."""
        rows = as_slice(rows, self.n_out, "rows")
        cols = self._cols(cols)
        return self._generate(rows, cols)

    def matrix(self, rows=None, cols=None, time_s: float = 0.0) -> np.ndarray:
        rows = as_slice(rows, self.n_out, "rows")
        cols = self._cols(cols)
        n_rows = rows.stop - rows.start
        w = self._split(rows, cols)
        return (w[:, :n_rows] + 1j * w[:, n_rows:]).T.astype(np.complex64)

    def _split(self, rows: slice, cols: slice) -> np.ndarray:
        dense = self._w
        if dense is not None and cols.stop <= self.n_in:
            if rows.start == 0 and rows.stop == self.n_out:
                return dense[cols]
            re = dense[cols, rows.start : rows.stop]
            im = dense[cols, self.n_out + rows.start : self.n_out + rows.stop]
            return np.concatenate([re, im], axis=1)
        return self._generate(rows, cols)

    # -- projection -----------------------------------------------------------------------------
    def split_field(self, x, cols=None, rows=None, time_s: float = 0.0, *, block_order=None):
        """[Re | Im] of x @ T[rows, cols]^T (float32, batch x 2 n_rows).

        Dense: one GEMM against the stored matrix. Procedural: for each block of
        ``block_rows`` rows, generate the block with numba and multiply; ``block_order``
        (a permutation of block indices) exists to test order independence.
        """
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        self._check_x(x, cols)
        x = np.ascontiguousarray(x, dtype=np.float32)
        n_rows = rows.stop - rows.start
        if self._w is not None and cols.stop <= self.n_in and block_order is None:
            return x @ self._split(rows, cols)
        out = np.empty((x.shape[0], 2 * n_rows), dtype=np.float32)
        starts = list(range(rows.start, rows.stop, self.block_rows))
        order = range(len(starts)) if block_order is None else block_order
        for b in order:
            r0 = starts[b]
            r1 = min(r0 + self.block_rows, rows.stop)
            blk = self._split(slice(r0, r1), cols)
            y = x @ blk
            k = r1 - r0
            out[:, r0 - rows.start : r1 - rows.start] = y[:, :k]
            out[:, n_rows + r0 - rows.start : n_rows + r1 - rows.start] = y[:, k:]
        return out

    def column_sum(self, cols, rows=None, time_s: float = 0.0) -> np.ndarray:
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        n_rows = rows.stop - rows.start
        acc = np.zeros(2 * n_rows, dtype=np.float64)
        step = max(1, (1 << 22) // max(1, n_rows))
        for c0 in range(cols.start, cols.stop, step):
            c1 = min(c0 + step, cols.stop)
            acc += self._split(rows, slice(c0, c1)).sum(axis=0, dtype=np.float64)
        return acc[:n_rows] + 1j * acc[n_rows:]

    def describe(self) -> dict:
        d = super().describe()
        d.update(seed=self.seed, storage="procedural" if self.procedural else "dense")
        return d
