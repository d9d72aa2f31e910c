"""One BLAS thread for loops of small dense linear algebra (eigensolves, small GEMMs).

LAPACK/BLAS calls on matrices of a few hundred rows synchronise their threads many times;
on a shared machine (cores busy with numba workers or other processes) several BLAS threads
can run 10-100x slower than one. threadpoolctl ships with scikit-learn; without it nothing
changes.
"""

from __future__ import annotations

import contextlib

__all__ = ["single_blas_thread"]


@contextlib.contextmanager
def single_blas_thread():
    """Context manager limiting BLAS to one thread (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn (a dependency) brings it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
