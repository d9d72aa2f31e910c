"""Four-step phase-shifting measurement of the transmission matrix (phase SLM + static reference).

The interferometric counterpart of phase retrieval (Popoff et al., PRL 104, 100601, 2010). The
device has a phase-only SLM (``modulator = "slm"``); its reference modes stay at phase 0
(the unmodulated part of the modulator), so every frame carries the same static field u_i on
camera pixel i. The signal modes display a +-1 pattern h (phases 0 / pi) plus a global phase
step alpha_k = k pi / 2, k = 0..3:

    I_k(i) = g_i |u_i + e^{i alpha_k} v_i|^2 + D_i,     v = A ff T h        [DN]

(g_i: the pixel's DN per |field|^2, A: the field of one mode, ff: the fill factor; D: dark).
The four steps give, exactly (sum_k e^{-i alpha_k} = sum_k e^{-2 i alpha_k} = 0),

    Y(i) = (1/4) sum_k I_k(i) e^{-i alpha_k} = g_i conj(u_i) v_i .

With the M >= n_in patterns of a Hadamard basis P (M x n_in, P^T P = M I), the observed
matrix is T_obs = Y P / M, so

    T_obs[i, j] = r_i T[i, j],      r_i = g_i A ff conj(u_i)        [DN per unit of T]:

**the measured TM equals the true TM up to one complex factor per camera pixel**, the
conjugate of the static reference field on that pixel times the pixel's gain (and the mode
amplitude). Its phase is unknown to the experimenter, and so is its modulus up to the
reference's speckle; unlike phase retrieval there is no conjugation ambiguity and no
iterative reconstruction, at the price of a reference arm and 4 M frames. u_i includes the
light reflected unmodulated by the SLM's inter-pixel gaps (1 - ff of the signal area).
Pixels where the reference is dark (|u_i| small: the reference is a speckle) are measured
with a proportionally poor signal-to-noise ratio.

Not exact on a real panel: pixel crosstalk (phase blur) turns the 0 / pi steps between
macropixels into ramps and leaks the phase steps into the reference modes at the border;
both show up as a residual against the ground truth and in the phase-closure noise estimate
(I_0 + I_2 = I_1 + I_3 for an ideal measurement).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..errors import CalibrationError, ShapeError, ValidationError
from ..validation import check_int
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = ["PhaseShiftingTM", "hadamard_patterns", "measure_tm_phase_shifting", "phase_shifting_quality"]

#: The four phase steps [rad].
PHASE_STEPS_RAD = np.array([0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi])


@dataclass(frozen=True)
class PhaseShiftingTM(CalibrationResult):
    """Result of :func:`measure_tm_phase_shifting`.

    Attributes
    ----------
    t_obs : ndarray (n_out, n_in) complex128
        Observed TM, r_i T[i, j] with r_i = g_i A ff conj(u_i) [DN per unit of T].
    phase_steps_rad : ndarray (4,)
        Phase steps used [rad].
    n_patterns : int
        Hadamard patterns M (>= n_in, a power of two).
    n_average : int
        Repetitions averaged per frame.
    exposure_s : float
        Exposure [s].
    frames_used : int
        Camera frames of the measurement, 4 M n_average.
    device_time_start_s, device_time_end_s : float
        Device clock at the start and end [s] (a drifting medium moves meanwhile).
    saturated_fraction : float
        Fraction of the recorded values at the ADC top (saturation biases the result).
    entry_noise : Measured
        Estimated noise (rms of Re and Im, each) of one entry of t_obs, from the phase
        closure I_0 + I_2 - I_1 - I_3 (zero without noise) [DN per unit of T].
    relative_noise : Measured
        sqrt(2) entry_noise / rms|t_obs|: the noise-to-signal ratio of the measured TM.
    """

    KIND = "phase_shifting"
    UNITS = {
        "t_obs": "DN per unit of T (r_i T_ij, r_i = g_i A ff conj(u_i))",
        "phase_steps_rad": "rad",
        "exposure_s": "s",
        "device_time_start_s": "s",
        "device_time_end_s": "s",
        "saturated_fraction": "1",
    }

    t_obs: np.ndarray
    phase_steps_rad: np.ndarray
    n_patterns: int
    n_average: int
    exposure_s: float
    frames_used: int
    device_time_start_s: float
    device_time_end_s: float
    saturated_fraction: float
    entry_noise: Measured
    relative_noise: Measured


def hadamard_patterns(n_in: int) -> np.ndarray:
    """The first n_in columns of the Sylvester-Hadamard matrix of order M = 2^ceil(log2 n_in).

    Returns an int8 array (M, n_in) of +-1 with orthogonal columns: P^T P = M I.
    """
    n_in = check_int(n_in, "n_in", low=1, high=1 << 20, error=ValidationError)
    m = 1 << max(0, (n_in - 1).bit_length())
    h = np.ones((1, 1), dtype=np.int8)
    while h.shape[0] < m:
        h = np.block([[h, h], [h, -h]])
    return np.ascontiguousarray(h[:, :n_in])


def measure_tm_phase_shifting(
    opu,
    *,
    n_average: int = 1,
    exposure_s: float | None = None,
    chunk_patterns: int | None = None,
    progress: bool = False,
) -> PhaseShiftingTM:
    """Measure the TM of a phase-SLM device by four-step phase shifting against its static reference.

    Parameters
    ----------
    opu : photonics.OPU
        A device with ``config.modulator == "slm"`` and gray levels divisible by 4 (exact
        pi/2 steps). Uses only ``opu.acquire`` (camera frames for chosen SLM patterns).
    n_average : int
        Frames averaged per pattern and step (noise falls as 1/sqrt(n_average)).
    exposure_s : float, optional
        Exposure [s] (default: the camera's).
    chunk_patterns : int, optional
        Patterns acquired per call (bounds memory); default so that a chunk holds ~64 MB of frames.
    progress : bool
        Progress bar over the chunks.

    Returns
    -------
    PhaseShiftingTM
        ``t_obs`` = r_i T (see the module docstring) and noise estimates.
    """
    mod = opu.modulator
    if getattr(mod, "kind", None) != "slm":
        raise CalibrationError(
            "four-step phase shifting needs a phase-only SLM (device config modulator = 'slm'); "
            "for a binary DMD use phase retrieval (photonics.calibration.tm_retrieval)"
        )
    levels = mod.gray_levels
    if levels % 4:
        raise CalibrationError(f"slm.gray_levels must be a multiple of 4 for exact pi/2 phase steps (got {levels})")
    n_average = check_int(n_average, "n_average", low=1, high=1 << 16, error=ValidationError)
    exposure_s = opu.camera.check_exposure(exposure_s)
    n_in, n_out = opu.n_in, opu.n_out
    p = hadamard_patterns(n_in)
    m = p.shape[0]
    base = np.where(p > 0, 0, levels // 2).astype(np.int64)  # phase 0 or pi
    steps = np.arange(4) * (levels // 4)
    if chunk_patterns is None:
        per_pattern = 4 * n_average * n_out * np.dtype(opu.config.camera.output_dtype).itemsize
        chunk_patterns = max(1, (64 << 20) // max(1, per_pattern))
    chunk_patterns = check_int(chunk_patterns, "chunk_patterns", low=1, error=ValidationError)
    max_dn = opu.config.camera.max_dn if opu.config.camera.quantize else math.inf
    phasor = np.exp(-1j * PHASE_STEPS_RAD)
    y = np.empty((n_out, m), dtype=np.complex128)
    closure_sq = 0.0
    n_sat = 0
    t_start = opu.device_time_s
    frames_before = opu.frames_used
    starts = range(0, m, chunk_patterns)
    for s in tqdm(starts, desc="phase shifting", unit="chunk", disable=not progress or len(starts) < 2, leave=False):
        e = min(s + chunk_patterns, m)
        k = e - s
        gray = (base[s:e, None, None, :] + steps[None, :, None, None]) % levels  # (k, 4, 1, n_in)
        gray = np.broadcast_to(gray, (k, 4, n_average, n_in)).reshape(-1, n_in).astype(mod.frame_dtype)
        dn = opu.acquire(gray, exposure_s=exposure_s)
        n_sat += int(np.count_nonzero(dn >= max_dn))
        i = dn.astype(np.float64).reshape(k, 4, n_average, n_out).mean(axis=2)  # (k, 4, n_out)
        y[:, s:e] = (np.tensordot(phasor, i, axes=([0], [1])) / 4.0).T
        closure = i[:, 0] + i[:, 2] - i[:, 1] - i[:, 3]
        closure_sq += float(np.sum(closure**2))
    t_obs = y @ p.astype(np.float64) / m
    n_frames = opu.frames_used - frames_before
    sat = n_sat / (n_frames * n_out)
    if sat > 0:
        log.warning("phase shifting: %.3g%% of the values saturate; lower the exposure", 100 * sat)
    # closure = sum of 4 frames with signs: variance 4 sigma^2 (sigma: noise of one averaged frame);
    # Re Y, Im Y = differences of 2 frames / 4: variance sigma^2 / 8; T = Y P / M: / M per entry
    n_closure = m * n_out
    sigma2 = closure_sq / n_closure / 4.0
    entry_var = sigma2 / 8.0 / m
    entry = math.sqrt(entry_var)
    entry_se = entry / math.sqrt(2 * n_closure)  # sd of an rms estimate from n values
    rms = math.sqrt(float(np.mean(np.abs(t_obs) ** 2)))
    rel = math.sqrt(2) * entry / rms if rms > 0 else math.inf
    return PhaseShiftingTM(
        t_obs=t_obs,
        phase_steps_rad=PHASE_STEPS_RAD.copy(),
        n_patterns=m,
        n_average=n_average,
        exposure_s=exposure_s,
        frames_used=n_frames,
        device_time_start_s=t_start,
        device_time_end_s=opu.device_time_s,
        saturated_fraction=sat,
        entry_noise=Measured(entry, entry_se, "DN per unit of T"),
        relative_noise=Measured(rel, rel * entry_se / entry if entry > 0 else 0.0, "1"),
    )


def phase_shifting_quality(result: PhaseShiftingTM, t_true) -> dict:
    """Ground-truth comparison (simulated devices): the best complex factor per row and the residual.

    For each row i, c_i = <T_i, t_obs_i> / |T_i|^2 (the estimate of r_i) and the relative
    residual |t_obs_i - c_i T_i| / |t_obs_i|. Returns ``row_factor`` (n_out, complex),
    ``row_residual`` (n_out,), ``row_correlation`` (|<t_obs_i, T_i>| / (|t_obs_i| |T_i|)) and
    ``median_residual``, ``median_correlation``.
    """
    t = np.asarray(t_true, dtype=np.complex128)
    obs = np.asarray(result.t_obs, dtype=np.complex128)
    if t.shape != obs.shape:
        raise ShapeError(f"t_true {t.shape} must have the shape of the measured TM {obs.shape}")
    ip = np.sum(np.conj(t) * obs, axis=1)
    nt = np.sum(np.abs(t) ** 2, axis=1)
    no = np.sum(np.abs(obs) ** 2, axis=1)
    c = ip / np.where(nt > 0, nt, 1.0)
    resid = np.linalg.norm(obs - c[:, None] * t, axis=1) / np.sqrt(np.where(no > 0, no, 1.0))
    corr = np.abs(ip) / np.sqrt(np.where(nt * no > 0, nt * no, 1.0))
    return {
        "row_factor": c,
        "row_residual": resid,
        "row_correlation": corr,
        "median_residual": float(np.median(resid)),
        "median_correlation": float(np.median(corr)),
    }
