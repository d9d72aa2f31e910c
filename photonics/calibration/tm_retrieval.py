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
   subspace once; the better fit is kept;
5. with the camera noise model (variance v0 + kappa I, from repeated held-out frames): a
   weighted least-squares polish on the intensities (Levenberg-Marquardt, the maximum-
   likelihood fit), the reduced chi^2 of every row, and random restarts of the rows whose
   chi^2 says the fit is worse than the noise (a wrong basin of the non-convex problem).

Rows dominated by one input (a weakly coupled fiber in the mode basis: participation ratio
~1) are the hard case of real probes: with the big entry a as phase reference, conjugating
every small entry relative to it leaves all intensities unchanged except through the weak
constant field c of leaking mirrors, so the small entries' phases are nearly free. Probes
taken with the reference block ON add a second, generic complex constant (one more fitted
column, ``groups``) that breaks this near-symmetry; :func:`retrieve_tm` uses half its probes
that way when some rows look dominated (or whenever the reference does not make pixels clip
often). For dominated rows those probes alternate between the two halves of the reference
block (``reference_halves``): two independent constants, fitted as two columns. With one, the
rows whose reference field happens to be nearly in phase with their dominant input (about one
in eight on a weakly coupled fiber) keep the symmetry; two independent ones rarely both are.
Optionally (``bracket``) a quarter of the probes are taken at a shorter exposure for pixels
that clip (``probe_scale``: the fit knows each probe's exposure).

Quality without the ground truth
--------------------------------
* R^2 of the predicted intensities on held-out probes (never used by the retrieval), next
  to its noise ceiling 1 - sigma_noise^2 / var(I) from the same probes measured twice;
* the row correlation by a parametric bootstrap: intensities simulated from the estimate
  with the measured noise model (variance v0 + kappa I, ADC rounding and clipping) are
  retrieved again from scratch, and the correlation of the two estimates estimates the
  correlation of the first with the truth (``row_correlation_estimate``); the bootstrap rows
  are a random subset, so the fraction of them below 0.99 estimates the tail of all rows
  (``tail_fraction_estimate``, with its binomial error): a median alone hides a tail;
* per row: ``chi2_reduced`` (intensity misfit in units of the camera noise) and
  ``row_flagged`` (misfit beyond 4 sigma of chi^2, more than 20 % of the probes clipped, or a
  bootstrap correlation below 0.99), with ``flagged_fraction``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..errors import CalibrationError, ShapeError, ValidationError
from ..medium.blas_threads import single_blas_thread
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
#: A retrieved pixel clipping in more held-out frames than this triggers exposure bracketing.
BRACKET_CLIP_FRACTION = 0.2
#: Automatic reference probes are dropped if the reference makes a pixel clip in more frames...
REFERENCE_CLIP_LIMIT = 0.2
#: ...unless >= 5 % of the rows look dominated by one input: more than DOMINATED_FRACTION of
#: the held-out frames below DOMINATED_LEVEL x the row's mean (an input OFF leaves ~nothing;
#: speckle-like rows have ~14 % there, exp(-0.15)).
DOMINATED_LEVEL = 0.15
DOMINATED_FRACTION = 0.3
#: A row with more of its probes clipped than this is flagged (too few constraints left).
FLAG_CLIP_FRACTION = 0.2


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
        "chi2_reduced": "1",
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
    reference_probe_fraction: float = 0.0
    chi2_reduced: np.ndarray | None = None
    row_flagged: np.ndarray | None = None
    tail_fraction_estimate: Measured | None = None
    flagged_fraction: float = 0.0
    reference_halves: bool = False

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
def design_matrix(frames, groups=None) -> np.ndarray:
    """A = [2 x - 1, 1] (m, n_in + 1) float32 for binary frames x (m, n_in).

    With ``groups`` (int (m,), values 0..G-1: which constant field a probe carries, e.g.
    reference OFF / ON) the constant column is split into G indicator columns:
    A = [2 x - 1, 1{g = 0}, ..., 1{g = G-1}] (m, n_in + G).
    """
    x = np.asarray(frames)
    if groups is None:
        a = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32)
        a[:, :-1] = 2.0 * x - 1.0
        a[:, -1] = 1.0
        return a
    g = np.asarray(groups, dtype=np.int64)
    n_g = int(g.max()) + 1
    a = np.zeros((x.shape[0], x.shape[1] + n_g), dtype=np.float32)
    a[:, : x.shape[1]] = 2.0 * x - 1.0
    a[np.arange(x.shape[0]), x.shape[1] + g] = 1.0
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
    groups=None,
    noise_model=None,
    multistart: int = 6,
    chi2_sigma: float = 4.0,
    probe_scale=None,
):
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
        :func:`pseudo_inverse` of ``design_matrix(frames, groups)``, when already computed.
    groups : int array (m,), optional
        Constant field carried by each probe (e.g. 0: reference OFF, 1: reference ON); one
        constant per group is fitted (``w`` then has n + G rows).
    noise_model : (v0, kappa), optional
        Camera noise variance v0 + kappa I [DN^2] of one measurement. With it, every row is
        polished by weighted least squares on the intensities (Levenberg-Marquardt, the
        maximum-likelihood fit for Gaussian noise of that variance; rows of up to
        ``LM_MAX_UNKNOWNS`` real unknowns: all rows up to ``LM_ALL_UNKNOWNS``, above that
        those whose fit is worse than the noise or whose participation ratio is below
        ``LM_PR_FRACTION`` n_in: few inputs carry the row), its
        reduced chi^2 is computed, and rows whose chi^2
        exceeds 1 + chi2_sigma sqrt(2 / dof) (a misfit: a wrong basin of the non-convex
        problem) are retrieved again from ``multistart`` random subspaces, keeping the best fit.
    multistart : int
        Extra random starts for rows flagged by chi^2 (needs ``noise_model``).
    probe_scale : float array (m,), optional
        Relative exposure of each probe (intensities scale with it: the design rows are
        multiplied by its square root); for exposure-bracketed probes.
    chi2_sigma : float
        Flagging threshold in standard deviations of the reduced chi^2.

    Returns
    -------
    w : complex64 (n + G, r)
        Rows in the centred parametrisation (see the module docstring).
    residual : float (r,)
        Relative amplitude misfit.
    iterations : int (r,)
        Refinement iterations used.
    restarted : bool (r,)
        Whether the row was restarted.
    chi2 : float (r,)
        Reduced chi^2 of each row (NaN without ``noise_model``); returned only when
        ``noise_model`` is given (a 5-tuple then).
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
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (m,) or groups.dtype.kind not in "iub" or groups.min() < 0:
            raise ShapeError(f"groups must be (m,) = ({m},) non-negative integers (got shape {groups.shape})")
        groups = groups.astype(np.int64)
    a = design_matrix(x, groups)
    if probe_scale is not None:
        ps = np.asarray(probe_scale, dtype=np.float64)
        if ps.shape != (m,) or not np.all(ps > 0):
            raise ShapeError(f"probe_scale must be (m,) = ({m},) positive relative exposures")
        a = (a * np.sqrt(ps)[:, None]).astype(np.float32)
    if pinv is not None and pinv.shape != (a.shape[1], a.shape[0]):
        raise ShapeError(f"pinv must be ({a.shape[1]}, {a.shape[0]}) (got {pinv.shape})")
    a_pinv = pseudo_inverse(a) if pinv is None else pinv
    r_total = y.shape[1]
    w_out = np.empty((a.shape[1], r_total), dtype=np.complex64)
    res_out = np.empty(r_total)
    it_out = np.zeros(r_total, dtype=np.int64)
    restarted = np.zeros(r_total, dtype=bool)
    rng = generator(seed, "calibration", "phase_retrieval")
    chunks = range(0, r_total, ROW_CHUNK)
    with _blas_threads(a.shape[0] * a.shape[1] * min(r_total, ROW_CHUNK) * rank):
        _retrieve_all(a, a_pinv, y, sat, rank, momentum, max_iter, tol, spectral_iter, polish_iter, restart_factor, rng,
                      chunks, progress, w_out, res_out, it_out, restarted)
    if noise_model is None:
        return w_out, res_out, it_out, restarted
    v0, kappa = (float(v) for v in noise_model)
    v0 = max(v0, 1e-6)
    dof = max(m - 2 * a.shape[1], 1)
    w64 = w_out.astype(np.complex128)
    yy = y
    with single_blas_thread():
        chi2 = np.array([_lm_row(a, yy[:, j], sat[:, j], w64[:, j], v0, kappa, n_iter=0)[1] for j in range(r_total)]) / dof
        # polish (maximum likelihood) the rows at risk: a misfit, or few inputs carrying the
        # row (the small entries of a row dominated by one input are poorly constrained)
        sig = w64[:n]
        p2 = np.sum(np.abs(sig) ** 2, axis=0)
        pr = p2**2 / np.maximum(np.sum(np.abs(sig) ** 4, axis=0), 1e-300)
        if 2 * a.shape[1] <= LM_ALL_UNKNOWNS:
            risky = np.arange(r_total)
        else:
            risky = np.flatnonzero((chi2 > 1.0 + 2.0 * math.sqrt(2.0 / dof)) | (pr < max(4.0, LM_PR_FRACTION * n)))
        for j in risky:
            w64[:, j], c = _lm_row(a, yy[:, j], sat[:, j], w64[:, j], v0, kappa)
            chi2[j] = c / dof
        limit = 1.0 + chi2_sigma * math.sqrt(2.0 / dof)
        bad = np.flatnonzero(chi2 > limit)
        if multistart > 0 and bad.size:
            amp = np.sqrt(np.maximum(y[:, bad], 0.0)).astype(np.float32)
            for k in range(int(multistart)):
                wk, _, itk = _retrieve_chunk(a, a_pinv, np.maximum(y[:, bad], 0.0), amp, np.ascontiguousarray(sat[:, bad]), rank, momentum,
                                             max_iter, tol, spectral_iter, polish_iter, rng, random_start=True)
                for col, j in enumerate(bad):
                    wj, cj = _lm_row(a, yy[:, j], sat[:, j], wk[:, col].astype(np.complex128), v0, kappa)
                    cj /= dof
                    if cj < chi2[j]:
                        w64[:, j], chi2[j] = wj, cj
                it_out[bad] += itk
            restarted[bad] = True
    w_out = w64.astype(np.complex64)
    res_out = _residual(a, np.sqrt(np.maximum(y, 0.0)).astype(np.float32), sat, w_out)
    return w_out, res_out, it_out, restarted, chi2


#: Rows with more real unknowns (2 (n_in + G)) than this skip the Levenberg-Marquardt polish
#: (dense normal equations: O(m (2 n)^2) per iteration).
LM_MAX_UNKNOWNS = 600
#: Rows whose estimated participation ratio is below this fraction of n_in get the polish...
LM_PR_FRACTION = 0.1
#: ...and every row does when it has at most this many real unknowns.
LM_ALL_UNKNOWNS = 150


def _lm_row(a, y, sat, w0, v0, kappa, n_iter: int = 20) -> tuple[np.ndarray, float]:
    """Weighted least squares on one row's intensities (Levenberg-Marquardt).

    Minimises chi^2 = sum_k r_k^2 / (v0 + kappa p_k), r_k = y_k - p_k, p_k = |a_k . w|^2, a
    saturated probe contributing only when the prediction is below its (lower-bound) value.
    Gauss-Newton steps with the Jacobian dp/d(Re w, Im w) = 2 [Re(f) a, Im(f) a] (f = a . w),
    Marquardt damping of the diagonal; the global phase (a null direction) is harmless.
    Returns (w, chi^2) (not reduced); rows too large for dense steps only get their chi^2.
    """
    n1 = a.shape[1]
    ad = a.astype(np.float64)

    def evaluate(wv):
        f = ad @ wv
        p = f.real**2 + f.imag**2
        var = v0 + kappa * p
        r = y - p
        active = ~(sat & (p >= y))
        r = np.where(active, r, 0.0)
        return f, p, var, r, active, float(np.sum(r * r / var))

    w = np.asarray(w0, dtype=np.complex128).copy()
    f, _, var, r, active, cost = evaluate(w)
    if 2 * n1 > LM_MAX_UNKNOWNS or n_iter == 0:
        return w, cost
    lam = 1e-3
    for _ in range(n_iter):
        wt = np.where(active, 1.0 / var, 0.0)
        jac = np.concatenate([(2.0 * f.real)[:, None] * ad, (2.0 * f.imag)[:, None] * ad], axis=1)
        h = jac.T @ (jac * wt[:, None])
        g = jac.T @ (r * wt)
        d = np.diag(h).copy() + 1e-12 * max(float(np.max(np.diag(h))), 1e-30)
        improved = False
        for _ in range(8):
            try:
                step = np.linalg.solve(h + lam * np.diag(d), g)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            wn = w + step[:n1] + 1j * step[n1:]
            fn, _, varn, rn, actn, cn = evaluate(wn)
            if cn < cost:
                gain = cost - cn
                w, f, var, r, active, cost = wn, fn, varn, rn, actn, cn
                lam = max(lam / 3.0, 1e-9)
                improved = True
                break
            lam *= 5.0
        if not improved or gain < 1e-5 * max(cost, 1.0):
            break
    return w, cost


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
    reference_probes: float | None = None,
    multistart: int = 6,
    bracket: bool = False,
    reference_halves: bool | None = None,
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
        estimates the row correlation a lab cannot compute without the true TM. The rows are
        a seeded random subset, so the fraction of them below 0.99 estimates the tail
        fraction of all rows (``tail_fraction_estimate``). 0 disables.
    reference_probes : float, optional
        Fraction of the probes taken with the reference block ON (its field is a second,
        complex constant: it breaks the near-conjugation symmetry of rows dominated by one
        input, where real probes alone leave the phases of the small entries nearly free).
        Default 0.5 when the device has reference modes, unless no row looks dominated by one
        input and the reference makes a retrieved pixel clip in more than
        ``REFERENCE_CLIP_LIMIT`` of 32 test frames (then 0).
    multistart : int
        Random restarts for rows whose intensity fit is worse than the camera noise (reduced
        chi^2 above 1 + 4 sqrt(2 / dof)), see :func:`phase_retrieval_rows`.
    reference_halves : bool, optional
        Take the reference probes alternately with the first and with the second half of the
        reference block ON (two independent constant fields, fitted as two columns) instead of
        the whole block. One constant field leaves rows whose reference field is nearly in phase
        with their dominant input with the near-conjugation symmetry unbroken; two independent
        ones rarely both are. Default: on when the reference probes are on because some rows
        look dominated by one input (and the block has >= 2 mirrors), off otherwise.
    bracket : bool
        (default off: on the fiber hot spots tried it cost the dim rows more than it gained)
        If a retrieved pixel clips in more than ``BRACKET_CLIP_FRACTION`` of the held-out
        frames (a fiber's hot spot on an 8-bit camera), a quarter of the probes are taken at
        the longest exposure t / 2^k where no pixel clips in more than 1 % of test frames; the
        fit knows each probe's exposure (intensities scale with it).
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

    auto_ref = reference_probes is None
    if auto_ref:
        reference_probes = 0.5 if opu.config.n_reference > 0 else 0.0
    reference_probes = check_real(reference_probes, "reference_probes", low=0.0, high=0.5, error=ValidationError)
    if reference_probes > 0 and opu.config.n_reference == 0:
        raise ValidationError("reference_probes > 0 needs reference modes (reference.fraction > 0)")
    rng = generator(seed, "calibration", "tm_probes")
    probes = (rng.random((n_probes, n_in)) < 0.5).astype(np.uint8)
    held = (rng.random((n_heldout, n_in)) < 0.5).astype(np.uint8)
    dark_all = opu.dark_frames(n_dark_frames, exposure_s).astype(np.float64).mean(axis=0)
    dark = dark_all[rows_idx]
    h1_all = opu.acquire(held, exposure_s=exposure_s).astype(np.float64)
    h2_all = opu.acquire(held, exposure_s=exposure_s).astype(np.float64)
    y_h1, y_h2 = h1_all[:, rows_idx], h2_all[:, rows_idx]
    looks_dominated = False
    if auto_ref and reference_probes > 0 and max_dn is not None:
        # rows dominated by one input (a weakly coupled fiber in the mode basis) need the
        # reference's second constant field; otherwise, if the reference makes a retrieved pixel
        # clip often (a fiber's hot spot), the probes it spoils cost more than it brings
        lev = np.maximum(y_h1 - dark, 0.0)
        dominated = np.mean(lev < DOMINATED_LEVEL * np.maximum(lev.mean(axis=0), 1e-12), axis=0) > DOMINATED_FRACTION
        looks_dominated = bool(np.mean(dominated) >= 0.05)
        if not looks_dominated:
            test = opu.acquire(held[: min(32, n_heldout)], reference=True, exposure_s=exposure_s)[:, rows_idx]
            if float(np.max(np.mean(test >= max_dn, axis=0))) > REFERENCE_CLIP_LIMIT:
                reference_probes = 0.0
    n_ref_probes = int(round(reference_probes * n_probes))
    n_block = opu.config.n_reference
    if reference_halves is None:
        reference_halves = looks_dominated and n_block >= 2
    elif reference_halves and n_block < 2:
        raise ValidationError(f"reference_halves needs a reference block of >= 2 mirrors (this device has {n_block})")
    reference_halves = bool(reference_halves) and n_ref_probes > 1
    groups = np.zeros(n_probes, dtype=np.int64)
    # the reference state of each group: 0 OFF, 1 the whole block (or its first half), 2 its second half
    states: list = [False, True]
    if n_ref_probes > 0:
        on = np.linspace(0, n_probes - 1, n_ref_probes).round().astype(int)
        groups[on] = 1
        if reference_halves:
            groups[on[1::2]] = 2
            first = np.arange(n_block) < n_block // 2
            states = [False, first.astype(np.uint8), (~first).astype(np.uint8)]

    # exposure bracketing: pixels that clip often (a fiber's hot spot) get a quarter of the
    # probes at a shorter exposure where they do not
    short_s = None
    worst_clip = float(np.max(np.mean(y_h1 >= max_dn, axis=0))) if max_dn is not None else 0.0
    if max_dn is not None and bracket and worst_clip > BRACKET_CLIP_FRACTION:
        test = held[: min(32, n_heldout)]
        t_s = exposure_s
        for _ in range(10):
            t_s /= 2.0
            yt = opu.acquire(test, reference=n_ref_probes > 0, exposure_s=t_s)[:, rows_idx]
            if np.max(np.mean(yt >= max_dn, axis=0)) <= 0.01:
                short_s = t_s
                break
    exposures = np.full(n_probes, exposure_s)
    if short_s is not None:
        exposures[2::4] = short_s
    t_start = opu.device_time_s
    y = np.empty((n_probes, rows_idx.size), dtype=np.float64)
    dark_p = np.empty((n_probes, rows_idx.size), dtype=np.float64)
    for t_k in np.unique(exposures):
        d_k = dark if t_k == exposure_s else opu.dark_frames(n_dark_frames, float(t_k)).astype(np.float64).mean(axis=0)[rows_idx]
        for g, state in enumerate(states):
            sel = (exposures == t_k) & (groups == g)
            if np.any(sel):
                y[sel] = opu.acquire(probes[sel], reference=state, exposure_s=float(t_k))[:, rows_idx]
                dark_p[sel] = d_k
    t_end = opu.device_time_s
    return _retrieve_measured(
        probes, y, dark_p, dark, held, y_h1, y_h2, h1_all, h2_all, dark_all,
        groups=groups if n_ref_probes else None, probe_scale=exposures / exposure_s, max_dn=max_dn, rows_idx=rows_idx,
        exposure_s=exposure_s, rank=rank, max_iter=max_iter, n_bootstrap_rows=n_bootstrap_rows, multistart=multistart,
        seed=seed, progress=progress, t_start=t_start, t_end=t_end, reference_halves=reference_halves,
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


def _retrieve_measured(probes, y, dark_p, dark, held, y_h1, y_h2, h1_all, h2_all, dark_all, *, groups, probe_scale, max_dn,
                       rows_idx, exposure_s, rank, max_iter, n_bootstrap_rows, multistart, seed, progress, t_start, t_end,
                       reference_halves: bool = False) -> TMRetrieval:
    """The retrieval from measurements, for a device (:func:`retrieve_tm`) and for frames recorded
    elsewhere (:func:`photonics.calibration.recorded_probes.retrieve_tm_recorded`).

    ``probes`` (m, n_in) binary; ``y`` (m, r) camera values [DN] of the retrieved rows and
    ``dark_p`` their dark level per probe; ``dark`` (r,) the dark level; ``held`` (h, n_in) the
    held-out frames, ``y_h1`` / ``y_h2`` (h, r) their two readings (``y_h2`` None: read once, then
    no noise model: no noise ceiling, no maximum-likelihood polish, no bootstrap) and
    ``h1_all`` / ``h2_all`` / ``dark_all`` the same over every pixel (for the noise model);
    ``groups`` (m,) the constant field each probe carries, 0 = reference OFF, 1.. the reference
    states (or None: all OFF); ``max_dn`` the ADC top (None: no clip).
    """
    sat = (y >= max_dn) if max_dn is not None else np.zeros(y.shape, dtype=bool)
    intensity = y - dark_p
    repeated = y_h2 is not None
    if repeated:
        # noise model from every pixel of the repeated held-out frames (not only the retrieved rows)
        level = 0.5 * (h1_all + h2_all) - dark_all
        unclipped = (h1_all < max_dn) & (h2_all < max_dn) if max_dn is not None else np.ones(level.shape, dtype=bool)
        noise_model = _fit_noise_model(level[unclipped], 0.5 * (h1_all - h2_all)[unclipped] ** 2)
    else:
        noise_model = None
    n_ref_probes = int(np.count_nonzero(groups)) if groups is not None else 0
    n_probes, n_in = probes.shape
    n_heldout = held.shape[0]
    a_full = (design_matrix(probes, groups) * np.sqrt(probe_scale)[:, None]).astype(np.float32)
    a_pinv = pseudo_inverse(a_full)
    out = phase_retrieval_rows(
        probes, intensity, saturated=sat, rank=rank, max_iter=max_iter, seed=seed, progress=progress, pinv=a_pinv,
        groups=groups, noise_model=noise_model, multistart=multistart, probe_scale=probe_scale,
    )
    w, res, its, restarted = out[:4]
    chi2 = out[4] if repeated else np.full(w.shape[1], np.nan)
    t_est = (2.0 * w[:n_in]).T.astype(np.complex64)
    c_est = (w[n_in] - w[:n_in].sum(axis=0)).astype(np.complex64)

    # held-out prediction, and the camera noise from the repeated held-out frames
    pred = np.abs(held.astype(np.float32) @ t_est.T + c_est) ** 2 + dark
    if max_dn is not None:
        pred = np.minimum(pred, max_dn)
    var = np.mean((y_h1 - y_h1.mean(axis=0)) ** 2, axis=0)
    mse = np.mean((y_h1 - pred) ** 2, axis=0)
    noise = 0.5 * np.mean((y_h1 - y_h2) ** 2, axis=0) if repeated else np.full(var.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(var > 0, 1.0 - mse / var, np.nan)
        ceiling = np.where(var > 0, 1.0 - noise / var, np.nan)

    # parametric bootstrap: the retrieval's own error on data simulated from its estimate
    n_boot = min(int(n_bootstrap_rows), rows_idx.size) if repeated else 0
    corr_est = np.full(rows_idx.size, np.nan)
    if n_boot > 0:
        brng = generator(seed, "calibration", "tm_bootstrap")
        sel = np.sort(brng.choice(rows_idx.size, size=n_boot, replace=False))
        i_star = np.abs(a_full @ w[:, sel]).astype(np.float64) ** 2
        sd = np.sqrt(np.maximum(noise_model[0] - (1.0 / 12.0 if max_dn is not None else 0.0) + noise_model[1] * i_star, 0.0))
        y_star = i_star + dark_p[:, sel] + sd * brng.standard_normal(i_star.shape)
        if max_dn is not None:
            y_star = np.clip(np.round(y_star), 0.0, max_dn)
            sat_star = y_star >= max_dn
        else:
            sat_star = None
        w_star = phase_retrieval_rows(
            probes, y_star - dark_p[:, sel], saturated=sat_star, rank=rank, max_iter=max_iter, seed=seed + 1, pinv=a_pinv,
            groups=groups, noise_model=noise_model, multistart=multistart, probe_scale=probe_scale,
        )[0]
        corr_est[sel] = row_quality((2.0 * w_star[:n_in]).T, t_est[sel])
    r2_med = _median_measured(r2, "1")
    q_med = _median_measured(corr_est, "1")
    dof = max(n_probes - 2 * (n_in + (int(groups.max()) + 1 if groups is not None else 1)), 1)
    # flagged: a misfit beyond the camera noise (a wrong basin), or too many clipped probes to
    # constrain the row, or a bootstrap correlation below 0.99
    flagged = (chi2 > 1.0 + 4.0 * math.sqrt(2.0 / dof)) | (np.mean(sat, axis=0) > FLAG_CLIP_FRACTION)
    boot = corr_est[np.isfinite(corr_est)]
    if boot.size:
        k_bad = int(np.count_nonzero(boot < 0.99))
        p_hat = k_bad / boot.size
        tail = Measured(p_hat, math.sqrt(max(p_hat * (1 - p_hat), 1.0 / boot.size) / boot.size), "1")
        flagged = flagged | (np.isfinite(corr_est) & (corr_est < 0.99))
    else:
        tail = Measured(math.nan, math.nan, "1")
    log.info(
        "TM retrieval: %d rows from %d probes (%d with the reference ON), R^2 held-out median %.4f (noise ceiling %.4f), "
        "row correlation ~ %s, tail below 0.99 ~ %s, %d rows flagged, %d restarted",
        rows_idx.size, n_probes, n_ref_probes, r2_med.value, _median_measured(ceiling, "1").value, q_med, tail, int(flagged.sum()),
        int(restarted.sum()),
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
        noise_model_dn2=np.asarray(noise_model if repeated else (math.nan, math.nan), dtype=np.float64),
        row_correlation_estimate=corr_est,
        r2_heldout_median=r2_med,
        tm_row_correlation_median=q_med,
        seed=int(seed),
        probe_time_start_s=float(t_start),
        probe_time_end_s=float(t_end),
        reference_probe_fraction=float(n_ref_probes / n_probes),
        reference_halves=bool(reference_halves),
        chi2_reduced=np.asarray(chi2, dtype=np.float64),
        row_flagged=np.asarray(flagged, dtype=bool),
        tail_fraction_estimate=tail,
        flagged_fraction=float(np.mean(flagged)),
    )


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
