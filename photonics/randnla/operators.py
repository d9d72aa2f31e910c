"""One view of the matrices the randomized routines accept: arrays, sparse matrices, operators.

:func:`as_operator` validates ``A`` (2-D, real, finite, non-empty) and wraps it in a
:class:`MatrixOperator` with the few products the routines need:

* ``matmat(X)`` = A X and ``rmatmat(X)`` = A^T X, computed digitally in float64;
* ``rows(start, stop)``: a dense block of rows of A, for sending them to the DMD (only when
  A is explicit: a numpy array or a scipy sparse matrix; a ``LinearOperator`` has no rows).

Every product's output is checked to be finite, since a ``LinearOperator`` can only be checked
through what it returns.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import DTypeError, ShapeError, ValidationError
from ..validation import as_float_array, check_int

__all__ = ["MatrixOperator", "as_operator", "check_rank"]


def _is_sparse(a) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return sp.issparse(a)


def _is_linear_operator(a) -> bool:
    try:
        from scipy.sparse.linalg import LinearOperator
    except ImportError:  # pragma: no cover
        return False
    return isinstance(a, LinearOperator)


class MatrixOperator:
    """A validated real matrix (m, n): explicit (dense / sparse) or a LinearOperator.

    Attributes
    ----------
    shape : (int, int)
    kind : str
        ``"dense"``, ``"sparse"`` or ``"operator"``.
    matvecs : int
        Vectors multiplied so far by A or A^T (the digital cost of a routine).
    """

    def __init__(self, a, kind: str, name: str):
        self._a = a
        self.kind = kind
        self.name = name
        self.shape = (int(a.shape[0]), int(a.shape[1]))
        self.matvecs = 0

    @property
    def explicit(self) -> bool:
        """True when the entries of A are available (rows can be sent to the DMD)."""
        return self.kind != "operator"

    def _check_out(self, y, shape: tuple[int, int], what: str) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 1 and shape[1] == 1:
            y = y[:, None]
        if y.shape != shape:
            raise ShapeError(f"{self.name} returned shape {y.shape} for {what}, expected {shape}")
        if np.iscomplexobj(y):
            if np.any(y.imag != 0):
                raise DTypeError(f"{self.name} returned complex values for {what}; the randomized routines need a real matrix")
            y = y.real
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValidationError(f"{self.name} returned NaN or infinite values for {what}; A must be finite")
        return y

    def matmat(self, x: np.ndarray) -> np.ndarray:
        """A X for X (n, k), float64 (m, k)."""
        x = np.asarray(x, dtype=np.float64)
        self.matvecs += x.shape[1]
        if self.kind == "operator":
            y = self._a.matmat(x)
        else:
            y = self._a @ x
        return self._check_out(y, (self.shape[0], x.shape[1]), "A @ X")

    def rmatmat(self, x: np.ndarray) -> np.ndarray:
        """A^T X for X (m, k), float64 (n, k)."""
        x = np.asarray(x, dtype=np.float64)
        self.matvecs += x.shape[1]
        if self.kind == "operator":
            try:
                y = self._a.rmatmat(x)
            except (NotImplementedError, TypeError) as exc:  # scipy: no rmatvec given -> None called
                raise ValidationError(
                    f"{self.name} is a LinearOperator whose rmatvec/rmatmat failed ({exc}); "
                    "this routine needs products with A^T: define rmatvec"
                ) from exc
        else:
            y = self._a.T @ x
        return self._check_out(y, (self.shape[1], x.shape[1]), "A.T @ X")

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Dense float64 copy of rows start:stop (explicit matrices only)."""
        if self.kind == "dense":
            return np.asarray(self._a[start:stop], dtype=np.float64)
        if self.kind == "sparse":
            return np.asarray(self._a[start:stop].toarray(), dtype=np.float64)
        raise ValidationError(f"{self.name} is a LinearOperator: its rows cannot be sent to the DMD")

    def transposed(self) -> "MatrixOperator":
        """The operator A^T (shares the data; its own matvec counter)."""
        a = self._a.T if self.kind != "operator" else self._a.transpose()
        return MatrixOperator(a, self.kind, f"{self.name}.T")

    def frobenius_norm(self) -> float | None:
        """||A||_F for explicit matrices, None for a LinearOperator."""
        if self.kind == "dense":
            return float(np.linalg.norm(self._a))
        if self.kind == "sparse":
            return float(np.sqrt(np.sum(self._a.data**2)))
        return None

    def trace(self) -> float:
        """Exact trace for explicit square matrices (tests, benchmarks)."""
        if not self.explicit:
            raise ValidationError(f"{self.name} is a LinearOperator: its exact trace is not available")
        return float(self._a.diagonal().sum())


def as_operator(a, name: str = "A", *, square: bool = False) -> MatrixOperator:
    """Validate ``a`` and wrap it as a :class:`MatrixOperator`.

    Parameters
    ----------
    a : array_like (m, n), scipy sparse matrix/array, or scipy.sparse.linalg.LinearOperator
        Real, finite entries (bool and integer dtypes are converted to float64).
    name : str
        Name used in error messages.
    square : bool
        Require m == n (trace estimation).

    Raises
    ------
    ShapeError
        Not 2-D, empty, or not square when ``square``.
    DTypeError
        Non-numeric or complex dtype.
    ValidationError
        NaN or infinite entries.
    """
    if isinstance(a, MatrixOperator):
        op = a
    elif _is_linear_operator(a):
        if len(a.shape) != 2:
            raise ShapeError(f"{name} must be a 2-D operator (got shape {a.shape})")
        dt = np.dtype(a.dtype) if a.dtype is not None else np.dtype(np.float64)
        if dt.kind == "c":
            raise DTypeError(f"{name} must be a real operator (got dtype {dt}); optical encoding handles real values only")
        if dt.kind not in "biuf":
            raise DTypeError(f"{name} must be a numeric operator (got dtype {dt})")
        op = MatrixOperator(a, "operator", name)
    elif _is_sparse(a):
        if a.ndim != 2:
            raise ShapeError(f"{name} must be 2-D (m, n) (got shape {a.shape})")
        if a.dtype.kind == "c":
            raise DTypeError(f"{name} must be real-valued (got dtype {a.dtype}); optical encoding handles real values only")
        if a.dtype.kind not in "biuf":
            raise DTypeError(f"{name} must be a numeric matrix (got dtype {a.dtype})")
        csr = a.tocsr().astype(np.float64)
        if not np.all(np.isfinite(csr.data)):
            n_bad = int(np.size(csr.data) - np.count_nonzero(np.isfinite(csr.data)))
            raise ValidationError(f"{name} contains {n_bad} NaN or infinite value(s); all entries must be finite")
        op = MatrixOperator(csr, "sparse", name)
    else:
        arr = np.asarray(a)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DTypeError(f"{name} must be a numeric array, sparse matrix or LinearOperator (got dtype {arr.dtype})")
        if arr.ndim != 2:
            raise ShapeError(f"{name} must be 2-D (m, n) (got shape {arr.shape})")
        op = MatrixOperator(as_float_array(arr, name, dtype=np.float64), "dense", name)
    m, n = op.shape
    if m == 0 or n == 0:
        raise ShapeError(f"{name} must not be empty (got shape {op.shape})")
    if square and m != n:
        raise ShapeError(f"{name} must be square (n, n) for trace estimation (got shape {op.shape})")
    return op


def check_rank(k, name: str, high: int, what: str) -> int:
    """An integer k in [1, high] (``what`` explains the upper bound in the message)."""
    if isinstance(k, numbers.Integral) and not isinstance(k, bool) and int(k) > high:
        raise ValidationError(f"{name} must be <= {what} = {high} (got {int(k)})")
    return check_int(k, name, low=1, high=high, error=ValidationError)
