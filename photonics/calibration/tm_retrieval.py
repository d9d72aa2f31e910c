"""Transmission-matrix retrieval from intensities only (phase retrieval, no reference arm).

What is measured
----------------
For a binary DMD frame x (0/1, n_in) the field on camera pixel i is affine in x (leaking OFF
mirrors, and the reference block's leak, give a constant field c_i; see :mod:`photonics.dmd`):

    y_i(x) - D_i = g_i |alpha T_i . x + c_i|^2                            [DN]

with D_i the pixel's dark level (measured from dark frames) and g_i its DN per |field|^2
(exposure, QE, PRNU, gain). Writing x = (1 + s) / 2 with s in {-1, +1}^n_in,

    y_i - D_i = |w_i . [s, 1]|^2,   w_i = sqrt(g_i) [alpha T_i / 2,  alpha T_i . 1 / 2 + c_i]

Retrieval estimates each w_i (n_in + 1 complex numbers) from random probes. From it the
routine reports, per retrieved pixel i,

    t_est_i = 2 w_i[:n_in]          = sqrt(g_i) alpha T_i e^{i phi_i}          [sqrt(DN)]
    c_est_i = w_i[n_in] - sum(w_i[:n_in]) = sqrt(g_i) c_i e^{i phi_i}            [sqrt(DN)]

so that |t_est_i . x + c_est_i|^2 + D_i predicts the pixel for any binary frame x.

Ambiguities (what cannot be recovered)
--------------------------------------
* a global phase phi_i per row (intensities do not see it);
* **complex conjugation per row**: DMD probes are real, and |w . s|^2 = |conj(w) . s|^2 for
  real s, so (t_est_i, c_est_i) and their conjugates explain the data equally well. No
  intensity measurement with real (binary) inputs can tell them apart, and nothing a DMD
  device computes depends on the choice (projections and linear projections with the
  reference are invariant). The row quality against the ground truth is therefore
  max(|<t_est, t>|, |<conj(t_est), t>|) / (|t_est| |t|); a phase-modulating SLM with a
  reference (four-step phase shifting) removes both ambiguities;
* the scale sqrt(g_i) alpha (pixel gain and mode amplitude), which is reported, not removed.

Algorithm
---------
Rows are independent but share the probe matrix A = [s, 1] (m x (n_in + 1)), so every step is
a GEMM over all rows at once (BLAS, float32):

1. spectral initialisation: the top-K eigenvectors of (1/m) A^T diag(y / <y> - 1) A (shifted
   to be positive semi-definite) by batched subspace iteration; real probes see the complex
   row as the rank-2 real matrix [Re w, Im w], lifted here to rank K = 3, which removes most
   spurious stationary points;
2. Gerchberg-Saxton refinement with momentum: U <- A^+ P_amp(A (U + beta (U - U_prev))), with
   P_amp the amplitude projection (:mod:`photonics.calibration._pr_kernels`, numba) and A^+
   the pseudo-inverse of A; saturated pixels only bound the amplitude from below;
3. reduction to rank 2 (SVD of each row's K columns) = a complex row, then plain GS polishing;
4. rows whose amplitude residual stays far above the median restart from a new random
   subspace once; the better fit is kept.

Quality without the ground truth
--------------------------------
* R^2 of the predicted intensities on held-out probes (never used by the retrieval), next
  to its noise ceiling 1 - sigma_noise^2 / var(I) from the same probes measured twice;
* the row correlation by a parametric bootstrap: intensities simulated from the estimate
  with the measured noise model (variance v0 + kappa I, ADC rounding and clipping) are
  retrieved again from scratch, and the correlation of the two estimates estimates the
  correlation of the first with the truth (``row_correlation_estimate``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..errors import CalibrationError, ShapeError, ValidationError
from ..rng import generator
from ..validation import as_binary_frames, as_float_array, check_int, check_real
from ._pr_kernels import amplitude_projection_numba
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = [
    "TMRetrieval",
    "retrieve_tm",
    "phase_retrieval_rows",
    "row_quality",
    "tm_quality",
    "design_matrix",
    "pseudo_inverse",
    "ProbeSweep",
    "probe_sweep",
]

#: Rows processed together (bounds the work memory to ~ m * ROW_CHUNK * K * 4 bytes).
ROW_CHUNK = 256


@dataclass(frozen=True)
class TMRetrieval(CalibrationResult):
    """TM rows retrieved from intensities (see the module docstring for what they are).

    Per-row arrays follow ``rows`` (camera pixel indices).
    """

    KIND = "tm_retrieval"
    UNITS = {
        "exposure_s": "s",
        "t_est": "sqrt(DN) per ON mode",
        "c_est": "sqrt(DN)",
        "dark_dn": "DN",
        "residual": "1 (relative amplitude misfit)",
        "r2_heldout": "1",
        "r2_noise_ceiling": "1",
        "row_correlation_estimate": "1",
        "noise_model_dn2": "DN^2 (v0, and DN^2 per DN of signal)",
    }

    rows: np.ndarray
    t_est: np.ndarray
    c_est: np.ndarray
    dark_dn: np.ndarray
    exposure_s: float
    n_probes: int
    n_heldout: int
    rank: int
    iterations: np.ndarray
    residual: np.ndarray
    restarted: np.ndarray
    saturated_fraction: float
    r2_heldout: np.ndarray
    r2_noise_ceiling: np.ndarray
    noise_model_dn2: np.ndarray
    row_correlation_estimate: np.ndarray
    r2_heldout_median: Measured
    tm_row_correlation_median: Measured
    seed: int = 0
    probe_time_start_s: float = 0.0
    probe_time_end_s: float = 0.0

    def predict(self, frames, max_dn: float | None = None) -> np.ndarray:
        """Predicted camera values |t_est . x + c_est|^2 + D for binary frames (N, n_in) [DN]."""
        x = np.asarray(frames)
        if x.ndim != 2 or x.shape[1] != self.t_est.shape[1]:
            raise ShapeError(f"frames must be (N, n_in={self.t_est.shape[1]}) (got shape {x.shape})")
        f = x.astype(np.float32) @ self.t_est.T + self.c_est
        y = np.abs(f) ** 2 + self.dark_dn
        return np.minimum(y, max_dn) if max_dn is not None else y


# ----------------------------------------------------------------------------------------------
# the algorithm (device-free)
# ----------------------------------------------------------------------------------------------
def design_matrix(frames) -> np.ndarray:
    """A = [2 x - 1, 1] (m, n_in + 1) float32 for binary frames x (m, n_in)."""
    x = np.asarray(frames)
    a = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32)
    a[:, :-1] = 2.0 * x - 1.0
    a[:, -1] = 1.0
    return a


def pseudo_inverse(a: np.ndarray) -> np.ndarray:
    """A^+ = (A^T A)^-1 A^T (float32) of a +-1/constant design matrix.

    A^T A has integer entries below 2^24, so the float32 GEMM that forms it is exact; the
    (n_in + 1)^2 inverse is taken in float64 and applied in float32.
    """
    gram = (a.T @ a).astype(np.float64)
    inv = np.linalg.inv(gram)
    return (inv.astype(np.float32) @ a.T).astype(np.float32)


def _orthonormalize(v: np.ndarray) -> np.ndarray:
    """Per-row QR of v (N, r, K) -> orthonormal columns, same layout."""
    q, _ = np.linalg.qr(np.ascontiguousarray(v.transpose(1, 0, 2)))
    return np.ascontiguousarray(q.transpose(1, 0, 2))


def _spectral_init(a: np.ndarray, y: np.ndarray, k_lift: int, n_iter: int, rng: np.random.Generator) -> np.ndarray:
    """Rank-K spectral estimate U (N, r, K) of each row's lifted field, scaled to the mean intensity."""
    m, n1 = a.shape
    r = y.shape[1]
    mean = y.mean(axis=0)
    w = y / np.where(mean > 0, mean, 1.0) - 1.0
    w = (w - w.min(axis=0)).astype(np.float32)
    wrep = np.repeat(w, k_lift, axis=1)
    v = _orthonormalize(rng.standard_normal((n1, r, k_lift)).astype(np.float32))
    for _ in range(n_iter):
        q = a.T @ ((a @ v.reshape(n1, r * k_lift)) * wrep)
        v = _orthonormalize(q.reshape(n1, r, k_lift))
    q = (a.T @ ((a @ v.reshape(n1, r * k_lift)) * wrep) / m).reshape(n1, r, k_lift)
    h = np.einsum("nra,nrb->rab", v, q)
    ev, evec = np.linalg.eigh(h)
    ev = ev[:, ::-1]
    evec = evec[:, :, ::-1]
    e = np.einsum("nra,rab->nrb", v, evec)
    # eigenvalues of the shifted matrix: subtract the bulk level (smallest Ritz value)
    lam = np.maximum(ev - ev[:, -1:], 1e-12 * np.maximum(ev[:, :1], 1e-30))
    u = e * np.sqrt(lam)[None]
    pred = np.sum((a @ u.reshape(n1, r * k_lift)).reshape(m, r, k_lift) ** 2, axis=2).mean(axis=0)
    u *= np.sqrt(np.where(pred > 0, mean / np.where(pred > 0, pred, 1.0), 1.0))[None, :, None]
    return u.astype(np.float32)


def _gs_momentum(a, a_pinv, amp, sat, u, k_lift, beta, max_iter, tol, check_every=10, min_iter=30):
    """Momentum Gerchberg-Saxton on lifted fields; returns (u, iterations per row).

    Every ``check_every`` steps the amplitude misfit of each active row is computed; a row
    whose misfit rose has its momentum reset (adaptive restart), and a row whose misfit fell
    by less than ``tol`` (relative) over the interval, after ``min_iter`` steps, or whose
    misfit is below 1e-4 (noise-free data: the rank-2 polish takes it from there), is frozen.
    ``tol = 0`` runs exactly ``max_iter`` steps.
    """
    n1 = a.shape[1]
    r = amp.shape[1]
    u = u.reshape(n1, r * k_lift).copy()
    prev = u.copy()
    iters = np.zeros(r, dtype=np.int64)
    last = np.full(r, np.inf)
    active = np.arange(r)
    it = 0
    while active.size and it < max_iter:
        cols = (active[:, None] * k_lift + np.arange(k_lift)).ravel()
        ua, pa = u[:, cols], prev[:, cols]
        am, sa = np.ascontiguousarray(amp[:, active]), np.ascontiguousarray(sat[:, active])
        steps = min(check_every, max_iter - it)
        for step in range(steps):
            v = ua + beta * (ua - pa) if beta > 0 else ua
            p = np.ascontiguousarray(a @ v)
            if step == steps - 1:  # misfit at the extrapolated point: no extra GEMM
                mis = _misfit(p, am, sa, k_lift)
            amplitude_projection_numba(p, am, sa, k_lift)
            pa = ua
            ua = a_pinv @ p
            it += 1
        iters[active] = it
        rose = mis > last[active]
        if beta > 0 and np.any(rose):  # adaptive restart of the momentum
            rc = (np.nonzero(rose)[0][:, None] * k_lift + np.arange(k_lift)).ravel()
            pa[:, rc] = ua[:, rc]
        u[:, cols], prev[:, cols] = ua, pa
        if tol > 0:
            done = ((it >= min_iter) & (last[active] - mis <= tol * mis) & ~rose) | (mis < 1e-4)
        else:
            done = np.zeros(active.size, dtype=bool)
        last[active] = mis
        active = active[~done]
    return u.reshape(n1, r, k_lift), iters


def _misfit(p: np.ndarray, amp: np.ndarray, sat: np.ndarray, k_lift: int) -> np.ndarray:
    """Per-row relative amplitude misfit of predicted lifted fields p (m, r K)."""
    m, r = amp.shape
    norm = np.sqrt(np.sum(p.reshape(m, r, k_lift) ** 2, axis=2))
    d = norm - amp
    d = np.where(sat, np.minimum(d, 0.0), d)
    return np.sqrt(np.sum(d * d, axis=0, dtype=np.float64) / np.maximum(np.sum(amp.astype(np.float64) ** 2, axis=0), 1e-30))


def _to_complex(u: np.ndarray) -> np.ndarray:
    """Best rank-2 reduction of lifted rows u (N, r, K) -> complex (N, r)."""
    if u.shape[2] == 2:
        return u[:, :, 0] + 1j * u[:, :, 1]
    uu, s, _ = np.linalg.svd(u.transpose(1, 0, 2), full_matrices=False)
    return (uu[:, :, 0] * s[:, :1] + 1j * uu[:, :, 1] * s[:, 1:2]).T


def _residual(a: np.ndarray, amp: np.ndarray, sat: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Relative amplitude misfit per row, ||sqrt(I) - |A w||| / ||sqrt(I)|| on unsaturated probes."""
    f = np.abs(a @ w.astype(np.complex64))
    d = np.where(sat, np.minimum(f - amp, 0.0), f - amp)
    return np.sqrt(np.sum(d * d, axis=0) / np.maximum(np.sum(amp * amp, axis=0), 1e-30))


def phase_retrieval_rows(
    frames,
    intensity,
    *,
    saturated=None,
    rank: int = 3,
    momentum: float = 0.95,
    max_iter: int = 300,
    tol: float = 5e-3,
    spectral_iter: int = 20,
    polish_iter: int = 20,
    restart_factor: float = 3.0,
    seed: int = 0,
    progress: bool = False,
    pinv: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Recover w_j (up to phase and conjugation) with I[k, j] = |w_j . [2 x_k - 1, 1]|^2.

    Parameters
    ----------
    frames : array (m, n) of {0, 1}
        Binary probe frames.
    intensity : array (m, r)
        Measured intensities above dark, one column per row to retrieve (negative values,
        from noise, count as 0).
    saturated : bool array (m, r), optional
        True where the pixel was clipped at the ADC top (the intensity is a lower bound).
    rank : int
        Real lift K >= 2 of the complex field (2 = plain complex GS).
    momentum : float
        GS momentum beta in [0, 1).
    max_iter, tol : int, float
        Iteration cap, and the relative misfit decrease over 10 steps below which a row
        counts as converged.
    spectral_iter, polish_iter : int
        Subspace iterations of the initialisation, plain GS steps after the rank-2 reduction.
    restart_factor : float
        Rows with a residual above restart_factor x the median residual (and above 1e-3)
        restart once from a new random subspace (0 disables restarts).
    seed : int
        Seed of the random initial subspaces.
    pinv : ndarray, optional
        :func:`pseudo_inverse` of ``design_matrix(frames)``, when already computed.

    Returns
    -------
    w : complex64 (n + 1, r)
        Rows in the centred parametrisation (see the module docstring).
    residual : float (r,)
        Relative amplitude misfit.
    iterations : int (r,)
        Refinement iterations used.
    restarted : bool (r,)
        Whether the row was restarted.
    """
    x = np.asarray(frames)
    if x.ndim != 2:
        raise ShapeError(f"frames must be (m, n_in) (got shape {x.shape})")
    x = as_binary_frames(x, "frames", x.shape[1])
    y = as_float_array(intensity, "intensity", dtype=np.float64)
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ShapeError(f"intensity must be (m, r) with m = {x.shape[0]} probes like frames (got shape {y.shape})")
    m, n = x.shape
    if m < 2 * (n + 1):
        raise CalibrationError(
            f"too few probes: {m} intensity measurements cannot determine {2 * (n + 1)} real unknowns per row "
            f"(need more than 2 (n_in + 1) = {2 * (n + 1)}, and ~8 n_in = {8 * n} for a reliable retrieval)"
        )
    sat = np.zeros(y.shape, dtype=np.bool_) if saturated is None else np.asarray(saturated, dtype=np.bool_)
    if sat.shape != y.shape:
        raise ShapeError(f"saturated must have the shape of intensity {y.shape} (got {sat.shape})")
    rank = check_int(rank, "rank", low=2, high=8, error=ValidationError)
    momentum = check_real(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False, error=ValidationError)
    a = design_matrix(x)
    if pinv is not None and pinv.shape != (a.shape[1], a.shape[0]):
        raise ShapeError(f"pinv must be ({a.shape[1]}, {a.shape[0]}) (got {pinv.shape})")
    a_pinv = pseudo_inverse(a) if pinv is None else pinv
    r_total = y.shape[1]
    w_out = np.empty((n + 1, r_total), dtype=np.complex64)
    res_out = np.empty(r_total)
    it_out = np.zeros(r_total, dtype=np.int64)
    restarted = np.zeros(r_total, dtype=bool)
    rng = generator(seed, "calibration", "phase_retrieval")
    chunks = range(0, r_total, ROW_CHUNK)
    with _blas_threads(a.shape[0] * a.shape[1] * min(r_total, ROW_CHUNK) * rank):
        _retrieve_all(a, a_pinv, y, sat, rank, momentum, max_iter, tol, spectral_iter, polish_iter, restart_factor, rng,
                      chunks, progress, w_out, res_out, it_out, restarted)
    return w_out, res_out, it_out, restarted


#: GEMMs below this many multiply-adds run on one BLAS thread (see :func:`_blas_threads`).
SMALL_GEMM = 1 << 27


@contextlib.contextmanager
def _blas_threads(work: int):
    """One BLAS thread for the many small GEMMs of a small retrieval.

    The refinement issues two GEMMs per iteration, hundreds of times; for small ones the
    synchronisation of several BLAS threads costs more than it saves, and on a shared
    machine (cores busy) multi-threaded small GEMMs can run ~10x slower. threadpoolctl
    ships with scikit-learn; without it nothing changes.
    """
    if work >= SMALL_GEMM:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _retrieve_all(a, a_pinv, y, sat, rank, momentum, max_iter, tol, spectral_iter, polish_iter, restart_factor, rng,
                  chunks, progress, w_out, res_out, it_out, restarted):
    """Row chunks of :func:`phase_retrieval_rows` (fills the output arrays)."""
    r_total = y.shape[1]
    for c0 in tqdm(chunks, desc="phase retrieval", unit="chunk", disable=not progress or len(chunks) < 2, leave=False):
        c1 = min(c0 + ROW_CHUNK, r_total)
        yc = np.maximum(y[:, c0:c1], 0.0)
        amp = np.sqrt(yc).astype(np.float32)
        sc = np.ascontiguousarray(sat[:, c0:c1])
        w, res, its = _retrieve_chunk(a, a_pinv, yc, amp, sc, rank, momentum, max_iter, tol, spectral_iter, polish_iter, rng)
        if restart_factor > 0 and c1 - c0 > 1:
            bad = np.nonzero((res > restart_factor * np.median(res)) & (res > 1e-3))[0]
            if bad.size:
                w2, res2, its2 = _retrieve_chunk(
                    a, a_pinv, yc[:, bad], np.ascontiguousarray(amp[:, bad]), np.ascontiguousarray(sc[:, bad]),
                    rank, momentum, max_iter, tol, spectral_iter, polish_iter, rng, random_start=True,
                )
                better = res2 < res[bad]
                w[:, bad[better]] = w2[:, better]
                res[bad[better]] = res2[better]
                its[bad] += its2
                restarted[c0 + bad] = True
        w_out[:, c0:c1] = w
        res_out[c0:c1] = res
        it_out[c0:c1] = its


def _retrieve_chunk(a, a_pinv, y, amp, sat, rank, momentum, max_iter, tol, spectral_iter, polish_iter, rng, random_start=False):
    n1 = a.shape[1]
    r = y.shape[1]
    if random_start:
        u = _orthonormalize(rng.standard_normal((n1, r, rank)).astype(np.float32))
        pred = np.sum((a @ u.reshape(n1, r * rank)).reshape(-1, r, rank) ** 2, axis=2).mean(axis=0)
        u *= np.sqrt(y.mean(axis=0) / np.maximum(pred, 1e-30))[None, :, None].astype(np.float32)
        # a few spectral steps from the random start keep the restart in a different basin
        u = _spectral_init_from(a, y, u, rank, max(3, spectral_iter // 6))
    else:
        u = _spectral_init(a, y, rank, spectral_iter, rng)
    u, its = _gs_momentum(a, a_pinv, amp, sat, u, rank, momentum, max_iter, tol)
    w = _to_complex(u)
    its2 = 0
    if polish_iter > 0:
        u2 = np.stack([w.real, w.imag], axis=2).astype(np.float32)
        u2, its2 = _gs_momentum(a, a_pinv, amp, sat, u2, 2, 0.0, polish_iter, 0.0)
        w = u2[:, :, 0] + 1j * u2[:, :, 1]
    w = w.astype(np.complex64)
    return w, _residual(a, amp, sat, w), its + its2


def _spectral_init_from(a, y, u, k_lift, n_iter):
    m, n1 = a.shape
    r = y.shape[1]
    mean = y.mean(axis=0)
    w = y / np.where(mean > 0, mean, 1.0) - 1.0
    w = (w - w.min(axis=0)).astype(np.float32)
    wrep = np.repeat(w, k_lift, axis=1)
    scale = np.sqrt(np.sum(u * u, axis=(0, 2)))
    v = _orthonormalize(u)
    for _ in range(n_iter):
        v = _orthonormalize((a.T @ ((a @ v.reshape(n1, r * k_lift)) * wrep)).reshape(n1, r, k_lift))
    return (v * (scale / math.sqrt(k_lift))[None, :, None]).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# quality measures
# ----------------------------------------------------------------------------------------------
def row_quality(t_est, t_true) -> np.ndarray:
    """max(|<t_est, t>|, |<conj(t_est), t>|) / (|t_est| |t|) per row (rows of both arrays)."""
    a = np.asarray(t_est, dtype=np.complex128)
    b = np.asarray(t_true, dtype=np.complex128)
    if a.shape != b.shape:
        raise ShapeError(f"t_est {a.shape} and t_true {b.shape} must have the same shape")
    num = np.maximum(np.abs(np.sum(np.conj(a) * b, axis=-1)), np.abs(np.sum(a * b, axis=-1)))
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def tm_quality(result: TMRetrieval, opu) -> dict:
    """Ground-truth comparison of a retrieval (simulated devices only).

    The truth is taken at the middle of the probe acquisition (device time). Returns
    ``quality`` (per row, see :func:`row_quality`), ``conjugated`` (rows matched by
    the conjugate), ``median``, ``c_relative_error``: per row |c_est - s c_true| / |s c_true|
    with s = <alpha t_true, t_est> / |alpha t_true|^2 the complex gain that maps the truth onto
    the estimate (conjugated consistently), and ``c_error_vs_signal``: the same error relative
    to the rms signal field |s alpha t_true| / sqrt(2) of a half-ON frame (c itself is small:
    leaking OFF mirrors only).
    """
    t_mid = 0.5 * (result.probe_time_start_s + result.probe_time_end_s)  # a drifting medium moves meanwhile
    t_true = opu.medium.matrix(None, slice(0, opu.n_in), time_s=t_mid)[result.rows].astype(np.complex128)
    t_est = result.t_est.astype(np.complex128)
    q = row_quality(t_est, t_true)
    direct = np.abs(np.sum(np.conj(t_est) * t_true, axis=1))
    conj = np.abs(np.sum(t_est * t_true, axis=1)) > direct
    te = np.where(conj[:, None], np.conj(t_est), t_est)
    ce = np.where(conj, np.conj(result.c_est.astype(np.complex128)), result.c_est.astype(np.complex128))
    alpha = opu.modulator.alpha
    s = np.sum(np.conj(alpha * t_true) * te, axis=1) / np.sum(np.abs(alpha * t_true) ** 2, axis=1)
    cfg = opu.config
    c_true = opu.modulator.beta * opu.medium.column_sum(slice(0, cfg.n_in), time_s=t_mid)
    amp_ref_off = opu.modulator.reference_amplitude(False)
    if amp_ref_off > 0:
        c_true = c_true + amp_ref_off * opu.medium.column_sum(slice(cfg.n_in, cfg.n_modes_total), time_s=t_mid)
    c_true = c_true[result.rows]
    field_rms = np.abs(s) * np.linalg.norm(alpha * t_true, axis=1) / math.sqrt(2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c_err = np.abs(ce - s * c_true) / np.abs(s * c_true)
        c_err_field = np.abs(ce - s * c_true) / field_rms
    return {
        "quality": q,
        "conjugated": conj,
        "median": float(np.median(q)),
        "c_relative_error": c_err,
        "c_error_vs_signal": c_err_field,
    }


# ----------------------------------------------------------------------------------------------
# acquisition on a device
# ----------------------------------------------------------------------------------------------
def retrieve_tm(
    opu,
    *,
    n_probes: int | None = None,
    probes_per_input: float = 8.0,
    rows=None,
    n_heldout: int | None = None,
    exposure_s: float | None = None,
    n_dark_frames: int = 32,
    rank: int = 3,
    max_iter: int = 300,
    n_bootstrap_rows: int = 32,
    seed: int = 0,
    progress: bool = False,
) -> TMRetrieval:
    """Retrieve TM rows of a device from random binary probes (intensity only).

    Parameters
    ----------
    opu : photonics.OPU
        The device (uses :meth:`~photonics.OPU.acquire` with the reference OFF and
        :meth:`~photonics.OPU.dark_frames`).
    n_probes : int, optional
        Probe frames used for the retrieval; default ``probes_per_input * n_in``.
    probes_per_input : float
        Probes per input mode when ``n_probes`` is not given (8 by default).
    rows : None, int or array of int
        Camera pixels to retrieve: all (None), a seeded random subset of that size (int), or
        the given indices.
    n_heldout : int, optional
        Extra probe frames, each measured twice, never used by the retrieval: they give R^2
        and the noise ceiling. Default max(64, n_probes // 8).
    exposure_s : float, optional
        Exposure of the probes [s] (e.g. from :func:`~photonics.calibration.choose_exposure`).
    n_dark_frames : int
        Dark frames for the per-pixel dark level.
    rank, max_iter : int
        See :func:`phase_retrieval_rows`.
    n_bootstrap_rows : int
        Rows (a seeded subset) whose retrieval error is estimated by a parametric bootstrap:
        intensities simulated from the estimate with the measured noise model (variance
        v0 + kappa I from the repeated held-out frames, ADC rounding and clipping) are
        retrieved again from scratch; the correlation of that second estimate with the first
        estimates the row correlation a lab cannot compute without the true TM. 0 disables.
    seed : int
        Seed of the probes (stream "calibration", "tm_probes"), the row subset and the
        initialisation.
    """
    if getattr(opu.modulator, "kind", "dmd") != "dmd":
        raise CalibrationError(
            "retrieve_tm models binary amplitude (DMD) probes; this device has a phase SLM: measure its TM "
            "with photonics.calibration.measure_tm_phase_shifting"
        )
    n_in, n_out = opu.n_in, opu.n_out
    if n_probes is None:
        probes_per_input = check_real(probes_per_input, "probes_per_input", low=0.0, low_inclusive=False, error=ValidationError)
        n_probes = int(math.ceil(probes_per_input * n_in))
    n_probes = check_int(n_probes, "n_probes", low=1, error=ValidationError)
    n_heldout = max(64, n_probes // 8) if n_heldout is None else check_int(n_heldout, "n_heldout", low=2, error=ValidationError)
    n_dark_frames = check_int(n_dark_frames, "n_dark_frames", low=1, error=ValidationError)
    if rows is None:
        rows_idx = np.arange(n_out)
    elif isinstance(rows, (int, np.integer)) and not isinstance(rows, bool):
        k = check_int(rows, "rows", low=1, high=n_out, error=ValidationError)
        rows_idx = np.sort(generator(seed, "calibration", "tm_rows").choice(n_out, size=k, replace=False))
    else:
        rows_idx = np.asarray(rows)
        if rows_idx.ndim != 1 or rows_idx.size == 0 or rows_idx.dtype.kind not in "iu":
            raise ShapeError(f"rows must be None, an int or a 1-D array of pixel indices (got {rows!r})")
        if rows_idx.min() < 0 or rows_idx.max() >= n_out:
            raise ValidationError(f"rows must be pixel indices in [0, {n_out - 1}] (got {rows_idx.min()}..{rows_idx.max()})")
    if n_probes < 2 * (n_in + 1):
        raise CalibrationError(
            f"too few probes: n_probes={n_probes} cannot determine 2 (n_in + 1) = {2 * (n_in + 1)} real unknowns per row; "
            f"use ~8 n_in = {8 * n_in}"
        )
    exposure_s = opu.camera.check_exposure(exposure_s)
    cam = opu.config.camera
    max_dn = float(cam.max_dn) if cam.quantize else None

    rng = generator(seed, "calibration", "tm_probes")
    probes = (rng.random((n_probes, n_in)) < 0.5).astype(np.uint8)
    held = (rng.random((n_heldout, n_in)) < 0.5).astype(np.uint8)
    dark_all = opu.dark_frames(n_dark_frames, exposure_s).astype(np.float64).mean(axis=0)
    dark = dark_all[rows_idx]
    t_start = opu.device_time_s
    y = opu.acquire(probes, exposure_s=exposure_s)[:, rows_idx]
    t_end = opu.device_time_s
    h1_all = opu.acquire(held, exposure_s=exposure_s).astype(np.float64)
    h2_all = opu.acquire(held, exposure_s=exposure_s).astype(np.float64)
    y_h1, y_h2 = h1_all[:, rows_idx], h2_all[:, rows_idx]
    sat = (y >= max_dn) if max_dn is not None else np.zeros(y.shape, dtype=bool)
    intensity = y.astype(np.float64) - dark
    a_pinv = pseudo_inverse(design_matrix(probes))
    w, res, its, restarted = phase_retrieval_rows(
        probes, intensity, saturated=sat, rank=rank, max_iter=max_iter, seed=seed, progress=progress, pinv=a_pinv
    )
    t_est = (2.0 * w[:-1]).T.astype(np.complex64)
    c_est = (w[-1] - w[:-1].sum(axis=0)).astype(np.complex64)

    # held-out prediction, and the camera noise from the repeated held-out frames
    pred = np.abs(held.astype(np.float32) @ t_est.T + c_est) ** 2 + dark
    if max_dn is not None:
        pred = np.minimum(pred, max_dn)
    var = np.mean((y_h1 - y_h1.mean(axis=0)) ** 2, axis=0)
    mse = np.mean((y_h1 - pred) ** 2, axis=0)
    noise = 0.5 * np.mean((y_h1 - y_h2) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(var > 0, 1.0 - mse / var, np.nan)
        ceiling = np.where(var > 0, 1.0 - noise / var, np.nan)
    # noise model from every pixel of the repeated held-out frames (not only the retrieved rows)
    level = 0.5 * (h1_all + h2_all) - dark_all
    unclipped = (h1_all < max_dn) & (h2_all < max_dn) if max_dn is not None else np.ones(level.shape, dtype=bool)
    noise_model = _fit_noise_model(level[unclipped], 0.5 * (h1_all - h2_all)[unclipped] ** 2)

    # parametric bootstrap: the retrieval's own error on data simulated from its estimate
    n_boot = min(int(n_bootstrap_rows), rows_idx.size)
    corr_est = np.full(rows_idx.size, np.nan)
    if n_boot > 0:
        brng = generator(seed, "calibration", "tm_bootstrap")
        sel = np.sort(brng.choice(rows_idx.size, size=n_boot, replace=False))
        i_star = np.abs(probes.astype(np.float32) @ t_est[sel].T + c_est[sel]).astype(np.float64) ** 2
        sd = np.sqrt(np.maximum(noise_model[0] - (1.0 / 12.0 if max_dn is not None else 0.0) + noise_model[1] * i_star, 0.0))
        y_star = i_star + dark[sel] + sd * brng.standard_normal(i_star.shape)
        if max_dn is not None:
            y_star = np.clip(np.round(y_star), 0.0, max_dn)
            sat_star = y_star >= max_dn
        else:
            sat_star = None
        w_star, _, _, _ = phase_retrieval_rows(
            probes, y_star - dark[sel], saturated=sat_star, rank=rank, max_iter=max_iter, seed=seed + 1, pinv=a_pinv
        )
        corr_est[sel] = row_quality((2.0 * w_star[:-1]).T, t_est[sel])
    r2_med = _median_measured(r2, "1")
    q_med = _median_measured(corr_est, "1")
    log.info(
        "TM retrieval: %d rows from %d probes, R^2 held-out median %.4f (noise ceiling %.4f), row correlation ~ %s, %d rows restarted",
        rows_idx.size, n_probes, r2_med.value, float(np.nanmedian(ceiling)), q_med, int(restarted.sum()),
    )
    return TMRetrieval(
        rows=rows_idx.astype(np.int64),
        t_est=t_est,
        c_est=c_est,
        dark_dn=dark,
        exposure_s=float(exposure_s),
        n_probes=int(n_probes),
        n_heldout=int(n_heldout),
        rank=int(rank),
        iterations=its,
        residual=res,
        restarted=restarted,
        saturated_fraction=float(sat.mean()),
        r2_heldout=r2,
        r2_noise_ceiling=ceiling,
        noise_model_dn2=np.asarray(noise_model, dtype=np.float64),
        row_correlation_estimate=corr_est,
        r2_heldout_median=r2_med,
        tm_row_correlation_median=q_med,
        seed=int(seed),
        probe_time_start_s=float(t_start),
        probe_time_end_s=float(t_end),
    )


def _fit_noise_model(level: np.ndarray, half_d2: np.ndarray) -> tuple[float, float]:
    """Least-squares var = v0 + kappa * level from repeated frames (kappa ~ K, v0 ~ dark variance)."""
    level = np.asarray(level, dtype=np.float64).ravel()
    v = np.asarray(half_d2, dtype=np.float64).ravel()
    if level.size < 4:
        return (float(v.mean()) if v.size else 0.0, 0.0)
    a = np.stack([np.ones_like(level), level], axis=1)
    coef = np.linalg.lstsq(a, v, rcond=None)[0]
    return float(max(coef[0], 0.0)), float(max(coef[1], 0.0))


def _median_measured(v: np.ndarray, unit: str) -> Measured:
    """Median with its standard error, 1.2533 sigma / sqrt(n) (robust sigma from the IQR)."""
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Measured(math.nan, math.nan, unit)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    sigma = (q3 - q1) / 1.349
    return Measured(float(med), float(1.2533 * sigma / math.sqrt(v.size)), unit)


# ----------------------------------------------------------------------------------------------
# degradation with fewer probes
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeSweep(CalibrationResult):
    """Retrieval quality against the number of probes per input mode."""

    KIND = "tm_probe_sweep"
    UNITS = {"probes_per_input": "probes / n_in"}

    probes_per_input: np.ndarray
    r2_heldout_median: np.ndarray
    correlation_estimate_median: np.ndarray
    quality_median: np.ndarray | None = None
    quality_p10: np.ndarray | None = None


def probe_sweep(opu, factors=(3.0, 4.0, 6.0, 8.0), *, rows: int | None = 64, seed: int = 0, with_truth: bool = True, **kwargs) -> ProbeSweep:
    """Run :func:`retrieve_tm` for several probe counts (probes per input mode).

    ``with_truth`` adds the ground-truth quality (simulated devices).
    """
    f = np.asarray(factors, dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or np.any(f <= 2.0):
        raise ValidationError(f"factors must be probes per input mode > 2 (got {factors!r})")
    r2, ce, qm, q10 = [], [], [], []
    for fac in f:
        r = retrieve_tm(opu, probes_per_input=float(fac), rows=rows, seed=seed, **kwargs)
        r2.append(r.r2_heldout_median.value)
        ce.append(r.tm_row_correlation_median.value)
        if with_truth:
            q = tm_quality(r, opu)["quality"]
            qm.append(float(np.median(q)))
            q10.append(float(np.percentile(q, 10)))
    return ProbeSweep(
        probes_per_input=f,
        r2_heldout_median=np.asarray(r2),
        correlation_estimate_median=np.asarray(ce),
        quality_median=np.asarray(qm) if with_truth else None,
        quality_p10=np.asarray(q10) if with_truth else None,
    )
