"""Randomized range finder and truncated SVD (Halko, Martinsson & Tropp 2011) on the OPU.

Range finder (their Algorithm 4.4, subspace iteration with re-orthonormalisation)::

    Y_0 = A Omega                      sketch: optical or digital (see sketching.py)
    Q_0 = qr(Y_0)
    for j in 1..q:  W = qr(A^T Q_{j-1});  Q_j = qr(A W)        digital, float64
    return Q_q                          (m x l), orthonormal columns, range(Q) ~ range(A)

Randomized SVD: C = Q^T A (l x n, digital), C = U_c S V^T, U = Q U_c, keep the first k.

Which dimension goes through the optics: the optical sketch sends vectors of length n (rows
of A) to the DMD, one input per row, so it costs m inputs; with ``transpose="auto"`` the SVD
of A^T is computed instead when A has more rows than columns (n inputs of length m): frames
are the scarce resource (kHz), DMD modes are not.

What quantisation does to the range. The optical sketch is Y_0 = (A + Delta) Omega + E, with
Delta the bit-plane rounding of A (~2^-n_bits of each row's peak) and E the camera noise and
float32 rounding (~2e-7 relative on the ideal device). Neither is of the form A Omega', so
range(Y_0) leaves range(A) and, with q = 0, the error of an exactly rank-k matrix floors at
about 2^-n_bits (the float32 floor from ~24 bits on). One digital power iteration (q >= 1)
restores exactness: Q_1 = qr(A W) lies in range(A) to float64 rounding, and spans all of it as
long as A^T Q_0 has rank k, which a noisy sketch does not change. So an exactly rank-k matrix
is recovered to ~1e-15 on the ideal device with q = 1 at any bit depth, or with the
``"optical-probes"`` sketch (the optics makes Omega, A Omega is digital) with q = 0.

For a matrix that is not exactly low rank the rounding matters once ||Delta||_F approaches the
tail ||A - A_l||_F: with 8 bits a spectrum 1/j^2 at rank 40 loses ~50 % against a Gaussian
sketch. ``n_bits="auto"`` (default) measures both digitally after each pass and adds residual
bit planes only while the rounding is not small against the achieved range error
(see :func:`~photonics.randnla.sketching.sketch`).
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import ValidationError
from ..rng import check_seed
from ..validation import check_choice, check_int
from .operators import MatrixOperator, as_operator, check_rank
from .sketching import _orth, check_bits, make_report, range_error, resolve_sketch, sketch

log = logging.getLogger(__name__)

__all__ = ["randomized_range_finder", "randomized_svd"]

TRANSPOSE = ("auto", "rows", "columns")


def _range(op: MatrixOperator, l: int, q: int, kind: str, *, device, seed, opu, n_bits, progress):
    """Basis Q (m x l), Q^T A when already computed (else None), and the sketch's info."""
    y, info = sketch(op, l, kind, device=device, seed=seed, opu=opu, n_bits=n_bits, refine=q == 0, progress=progress)
    basis = info.pop("basis", None)
    proj = info.pop("projection", None)
    if basis is None:
        basis = _orth(y)
    for _ in range(q):
        w = _orth(op.rmatmat(basis))
        basis = _orth(op.matmat(w))
        proj = None
    return basis, proj, info


def _common(A, power_iterations, seed, n_bits):
    op = as_operator(A)
    q = check_int(power_iterations, "power_iterations", low=0, high=1000, error=ValidationError)
    seed = check_seed(seed)
    check_bits(n_bits)
    return op, q, seed


def randomized_range_finder(
    A,
    size: int,
    *,
    power_iterations: int = 0,
    sketch: str | None = None,
    device="ideal",
    seed: int = 0,
    opu=None,
    n_bits: int | str = "auto",
    progress: bool = False,
    return_report: bool = False,
):
    """Orthonormal Q (m, size) whose range approximates range(A), from a (optical) sketch.

    Parameters
    ----------
    A : array (m, n), scipy sparse matrix, or scipy.sparse.linalg.LinearOperator
        Real, finite.
    size : int
        Columns of Q (sketch size l), 1 <= size <= min(m, n).
    power_iterations : int
        Digital subspace iterations q (each costs 2 size matvecs); q >= 1 makes range(Q)
        lie in range(A) to float64 rounding whatever the optical errors.
    sketch : {"optical", "optical-probes", "gaussian", "rademacher"}, optional
        Source of the test matrix (see :mod:`photonics.randnla.sketching`); default
        "optical" (rows of A through the OPU) for explicit A, "optical-probes" for operators.
    device : str, path or DeviceConfig
        Device the OPU is built from (preset name, TOML file or config), resized to what the
        sketch needs; ignored when ``opu`` is given.
    seed : int
        Seed of the OPU (medium, camera) and of the digital streams.
    opu : OPU, optional
        Run on this device instead: "optical" needs n_in >= n and n_out >= size,
        "optical-probes" n_in >= next power of two > size and n_out >= n.
    n_bits : int or "auto"
        Bit planes per sign half of the optical sketch, 1..32 (each costs 2 x 1-2 camera
        frames per row). "auto": 8, then residual passes of 4 more (up to 24) while the
        quantisation error ||A - Q(A)||_F exceeds 1/10 of the sketch's range error
        ||A - Q Q^T A||_F (both computed digitally), so bits are bought only when the
        quantisation, not the rank or the camera noise, limits the result; with
        power_iterations >= 1 a single 8-bit pass (the iterations wash the rounding out).
    progress : bool
        tqdm progress bar over chunks of inputs.
    return_report : bool
        Also return a :class:`RandNLAReport` (frames, device time, matvecs, bit passes,
        quantisation and range errors).

    Returns
    -------
    Q : ndarray float64 (m, size)
    report : RandNLAReport, only with ``return_report=True``
    """
    op, q, seed = _common(A, power_iterations, seed, n_bits)
    m, n = op.shape
    l = check_rank(size, "size", min(m, n), "min(m, n)")
    kind = resolve_sketch(sketch, op)
    basis, _, info = _range(op, l, q, kind, device=device, seed=seed, opu=opu, n_bits=n_bits, progress=progress)
    if q > 0:
        info.pop("range_error", None)  # measured on the sketch, not on the iterated basis
    rep = make_report("randomized_range_finder", kind, seed, l, info, matvecs=op.matvecs)
    return (basis, rep) if return_report else basis


def randomized_svd(
    A,
    k: int,
    *,
    oversampling: int = 10,
    power_iterations: int = 0,
    sketch: str | None = None,
    transpose: str = "auto",
    device="ideal",
    seed: int = 0,
    opu=None,
    n_bits: int | str = "auto",
    progress: bool = False,
    return_report: bool = False,
):
    """Rank-k truncated SVD of A from a randomized (optical) sketch: A ~ U diag(s) Vt.

    Same shapes and conventions as the first k terms of ``np.linalg.svd(A,
    full_matrices=False)``: s descending, U and Vt with orthonormal columns / rows.

    Parameters
    ----------
    A : array (m, n), scipy sparse matrix, or scipy.sparse.linalg.LinearOperator
        Real, finite. A LinearOperator must implement matvec and rmatvec.
    k : int
        Rank, 1 <= k <= min(m, n).
    oversampling : int
        Extra sketch columns p: sketch size l = min(k + p, min(m, n)).
    power_iterations : int
        Digital subspace iterations q (see :func:`randomized_range_finder`).
    sketch : {"optical", "optical-probes", "gaussian", "rademacher"}, optional
        Source of the test matrix; default "optical" for explicit A, "optical-probes" for
        operators.
    transpose : {"auto", "rows", "columns"}
        Optical sketch only: send the rows of A to the DMD (m inputs of length n) or its
        columns (n inputs of length m, i.e. sketch A^T); "auto" sends whichever is fewer.
    device, seed, opu, n_bits, progress, return_report
        As in :func:`randomized_range_finder`. With the columns sent, ``opu`` needs
        n_in >= m.

    Returns
    -------
    U : ndarray float64 (m, k)
    s : ndarray float64 (k,)
    Vt : ndarray float64 (k, n)
    report : RandNLAReport, only with ``return_report=True``

    Notes
    -----
    Cost: the sketch (optical: m or n inputs x 2 n_bits x 1-2 frames, see
    :func:`~photonics.randnla.optics.linear_sketch_frames`), 2 q l digital matvecs for the
    power iterations, l matvecs with A^T for C = Q^T A, and an l x n dense SVD.
    """
    op, q, seed = _common(A, power_iterations, seed, n_bits)
    m, n = op.shape
    k = check_rank(k, "k", min(m, n), "min(m, n)")
    p = check_int(oversampling, "oversampling", low=0, error=ValidationError)
    l = min(k + p, min(m, n))
    kind = resolve_sketch(sketch, op)
    transpose = check_choice(transpose, "transpose", TRANSPOSE, error=ValidationError)
    flip = kind == "optical" and (transpose == "columns" or (transpose == "auto" and m > n))
    work = op.transposed() if flip else op
    basis, c, info = _range(work, l, q, kind, device=device, seed=seed, opu=opu, n_bits=n_bits, progress=progress)
    if c is None:
        info["range_error"], c = range_error(work, basis, work.frobenius_norm())  # c = Q^T A (l x n')
    uc, s, vt = np.linalg.svd(c, full_matrices=False)
    u = basis @ uc[:, :k]
    s = s[:k]
    vt = vt[:k]
    if flip:
        u, vt = vt.T.copy(), u.T.copy()
    rep = make_report("randomized_svd", kind, seed, l, info, matvecs=work.matvecs, transposed=flip)
    return (u, s, vt, rep) if return_report else (u, s, vt)
