"""The interface every transmission-matrix model implements.

A medium maps input-mode amplitudes a (batch, n_cols) to camera-pixel fields
E = a T^T (batch, n_out). Fields are handled *split*: a real array (batch, 2 n_rows) holding
[Re E | Im E], which lets the projection run as one real GEMM with binary inputs.
"""

from __future__ import annotations

import abc

import numpy as np

from ..errors import ShapeError, ValidationError

__all__ = ["Medium", "as_slice"]


def as_slice(s: slice | None, n: int, name: str) -> slice:
    """Normalise ``s`` (None = everything) to a step-1 slice inside [0, n)."""
    if s is None:
        return slice(0, n)
    if not isinstance(s, slice):
        raise ValidationError(f"{name} must be a slice (got {type(s).__name__})")
    start, stop, step = s.indices(n)
    if step != 1:
        raise ValidationError(f"{name} must be a contiguous slice with step 1 (got step {step})")
    if stop <= start:
        raise ValidationError(f"{name} selects nothing ({s} of {n})")
    return slice(start, stop)


class Medium(abc.ABC):
    """A scattering medium with transmission matrix T (n_out x n_cols, complex).

    Attributes
    ----------
    n_in : int
        Signal input modes; E|T_ij|^2 = 1/n_in for the normalised models.
    n_cols : int
        Columns that can be addressed (signal + reference modes).
    n_out : int
        Output pixels.
    is_static : bool
        False for media that evolve with device time (then results depend on ``time_s``).
    output_basis : str
        ``"pixels"``: rows are camera pixels of an image (row-major), so pixel-grid statistics
        (grain size, autocorrelation) apply; ``"modes"``: rows are mode amplitudes (a
        mode-basis TM, e.g. of a fiber), which have no image.
    recorded_constant_field : complex ndarray (n_out,) or None
        The field reaching each output with every DMD mirror OFF (reference OFF), per unit DMD
        field step alpha, when it was measured (a TM retrieved from a recording): it then
        replaces the modelled leak of the OFF mirrors (see :meth:`photonics.OPU.constant_field`).
        None (every model medium): the leak is modelled.
    """

    n_in: int
    n_cols: int
    n_out: int
    is_static: bool = True
    output_basis: str = "pixels"
    recorded_constant_field: np.ndarray | None = None

    # -- required ---------------------------------------------------------------------------
    @abc.abstractmethod
    def matrix(self, rows: slice | None = None, cols: slice | None = None, time_s: float = 0.0) -> np.ndarray:
        """Block T[rows, cols] as complex64 (ground truth, for tests and small sizes).

        ``rows=None`` selects every pixel, ``cols=None`` the signal columns 0:n_in.
        """

    # -- provided (override for speed) -----------------------------------------------------
    def split_field(
        self, x: np.ndarray, cols: slice | None = None, rows: slice | None = None, time_s: float = 0.0
    ) -> np.ndarray:
        """[Re | Im] of x @ T[rows, cols]^T for real x (batch, n_selected_cols), float32 (batch, 2 n_rows)."""
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        self._check_x(x, cols)
        t = self.matrix(rows, cols, time_s)
        e = x.astype(np.float32, copy=False) @ t.T
        return np.concatenate([e.real, e.imag], axis=1).astype(np.float32, copy=False)

    def field(self, x: np.ndarray, cols: slice | None = None, rows: slice | None = None, time_s: float = 0.0) -> np.ndarray:
        """Complex field x @ T[rows, cols]^T, complex64 (batch, n_rows); x real or complex."""
        x = np.asarray(x)
        if np.iscomplexobj(x):
            re = self.split_field(np.ascontiguousarray(x.real, dtype=np.float32), cols, rows, time_s)
            im = self.split_field(np.ascontiguousarray(x.imag, dtype=np.float32), cols, rows, time_s)
            n = re.shape[1] // 2
            return ((re[:, :n] - im[:, n:]) + 1j * (re[:, n:] + im[:, :n])).astype(np.complex64)
        s = self.split_field(x.astype(np.float32, copy=False), cols, rows, time_s)
        n = s.shape[1] // 2
        return (s[:, :n] + 1j * s[:, n:]).astype(np.complex64)

    def column_sum(self, cols: slice, rows: slice | None = None, time_s: float = 0.0) -> np.ndarray:
        """sum_j T[rows, j] over ``cols`` (complex128, n_rows): the field of a block of ON modes."""
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        acc = np.zeros(rows.stop - rows.start, dtype=np.complex128)
        step = max(1, (1 << 24) // max(1, rows.stop - rows.start))
        for c0 in range(cols.start, cols.stop, step):
            c1 = min(c0 + step, cols.stop)
            acc += self.matrix(rows, slice(c0, c1), time_s).sum(axis=1, dtype=np.complex128)
        return acc

    def _cols(self, cols: slice | None) -> slice:
        """Column selection; None means the signal columns 0:n_in."""
        if cols is None:
            return slice(0, self.n_in)
        return as_slice(cols, self.n_cols, "cols")

    def describe(self) -> dict:
        """Short JSON-able description (model name and sizes)."""
        return {"model": type(self).__name__, "n_in": self.n_in, "n_cols": self.n_cols, "n_out": self.n_out, "output_basis": self.output_basis}

    def _check_x(self, x: np.ndarray, cols: slice) -> None:
        if x.ndim != 2 or x.shape[1] != cols.stop - cols.start:
            raise ShapeError(
                f"input must be (batch, {cols.stop - cols.start}) for columns {cols.start}:{cols.stop} (got shape {x.shape})"
            )
