"""The noise floor of a linear projection: how much camera noise each displayed DMD frame carries.

In the exact linear scheme a displayed binary frame x costs two camera frames (reference on
and off), y = B_opt x + nu [sqrt(DN)]. Per camera pixel k, the temporal noise of the two
readings together is lower-bounded by

    sigma_k^2 = sum over the two frames of [ sigma_read^2 + mu_dark,k + mu_shot,k,min ]   [e-^2]

(the camera's noise model, :meth:`photonics.camera.Camera.reading_statistics`):

* the read noise is Gaussian and independent of the data;
* dark counts are Poisson with a data-independent mean mu_dark,k;
* shot noise is Poisson and signal-dependent: its variance is the mean photo-electron count,
  which depends on the displayed pattern. The floor takes its smallest possible value: the
  photo-electrons of the *dimmest* intensity any admissible (non-blank) frame produces at that
  pixel, computed exactly by enumerating the 2^n_in binary frames (n_in <= 16) or, above that,
  bounded by the triangle inequality |c_k + alpha (T x)_k| >= |c_k| - |alpha| sum_j |T_kj|.
  Speckle makes this minimum small on many pixels, so the floor is often close to the read
  noise alone, far below the typical noise (both are reported);
* PRNU and dark non-uniformity are static maps (not noise); ADC rounding and saturation are
  deterministic post-processing and are not counted.

W = D^-1 B_opt (rows of the effective linear matrix divided by the per-pixel floor, in
electrons) is the projection in units of the noise: the signal-to-noise matrix that privacy
accounting (:mod:`dfa.studies.privacy`) and noise studies use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .device import OPU, reference_normalisation
from .errors import ValidationError

__all__ = ["ProjectionNoise", "projection_noise", "nonblank_frames", "ENUMERATION_MAX_N_IN"]

#: largest n_in for which the dimmest admissible frame is found by enumerating the 2^n_in frames
ENUMERATION_MAX_N_IN = 16


@dataclass(frozen=True)
class ProjectionNoise:
    """Signal-to-noise of one displayed DMD frame on each camera pixel (exact linear scheme).

    Attributes
    ----------
    snr_matrix : ndarray (n_out, n_in)
        W = D^-1 B_opt: the linear projection of one binary frame in units of the per-pixel
        noise floor (dimensionless).
    sigma_floor_e : ndarray (n_out,)
        Noise floor of the pixel for one displayed frame (the two camera frames together) [e-].
    sigma_typical_e : ndarray (n_out,)
        The same at the mean intensity of the admissible frames (an estimate, not a bound) [e-].
    shot_floor_e : ndarray (n_out,)
        Smallest photo-electron count (reference on + reference off frames) entering the floor [e-].
    dark_e : ndarray (n_out,)
        Mean dark electrons per camera frame [e-].
    read_noise_e : float
    min_intensity_method : str
        ``"enumeration"`` (all 2^n_in - 1 non-blank frames) or ``"triangle bound"``.
    time_s : float
        Device time of the medium state used [s].
    """

    snr_matrix: np.ndarray
    sigma_floor_e: np.ndarray
    sigma_typical_e: np.ndarray
    shot_floor_e: np.ndarray
    dark_e: np.ndarray
    read_noise_e: float
    min_intensity_method: str
    time_s: float


def nonblank_frames(n: int, chunk: int = 4096):
    """All 2^n - 1 non-blank binary frames (uint8), in chunks."""
    codes = np.arange(1, 2**n, dtype=np.int64)
    bits = np.arange(n, dtype=np.int64)
    for s in range(0, codes.size, chunk):
        yield ((codes[s : s + chunk, None] >> bits[None, :]) & 1).astype(np.uint8)


def projection_noise(opu, *, time_s: float | None = None) -> ProjectionNoise:
    """Per-pixel noise floor and standardised projection W = D^-1 B_opt of ``opu`` (module doc).

    Parameters
    ----------
    opu : photonics.OPU
        A DMD device with the exact linear scheme; its clock is not advanced.
    time_s : float, optional
        Device time of the medium state (drifting media); default the device's clock.
    """
    if not isinstance(opu, OPU):
        raise ValidationError(f"opu must be a photonics.OPU (got {type(opu).__name__})")
    cfg = opu.config
    if cfg.modulator != "dmd" or cfg.reference.scheme != "exact":
        raise ValidationError(
            "the projection noise floor covers the binary DMD with the exact linear scheme "
            f"(got modulator {cfg.modulator!r}, reference.scheme {cfg.reference.scheme!r})"
        )
    t = opu.device_time_s if time_s is None else float(time_s)
    cam = cfg.camera
    n = opu.n_in

    blank = np.zeros((1, n), dtype=np.uint8)
    p0_on = opu.optical_power(blank, reference=True, time_s=t)[0].astype(np.float64)
    p0_off = opu.optical_power(blank, reference=False, time_s=t)[0].astype(np.float64)
    if n <= ENUMERATION_MAX_N_IN:
        method = "enumeration"
        pmin_on = np.full(opu.n_out, np.inf)
        pmin_off = np.full(opu.n_out, np.inf)
        psum_on = np.zeros(opu.n_out)
        psum_off = np.zeros(opu.n_out)
        count = 0
        for frames in nonblank_frames(n):
            on = opu.optical_power(frames, reference=True, time_s=t).astype(np.float64)
            off = opu.optical_power(frames, reference=False, time_s=t).astype(np.float64)
            pmin_on = np.minimum(pmin_on, on.min(axis=0))
            pmin_off = np.minimum(pmin_off, off.min(axis=0))
            psum_on += on.sum(axis=0)
            psum_off += off.sum(axis=0)
            count += frames.shape[0]
        pmean_on, pmean_off = psum_on / count, psum_off / count
    else:
        method = "triangle bound"
        s = opu.power_scale
        reach = abs(opu.modulator.alpha) * np.abs(opu.medium.matrix(None, slice(0, n), time_s=t)).astype(np.float64).sum(axis=1)
        pmin_on = s * np.maximum(np.sqrt(p0_on / s) - reach, 0.0) ** 2
        pmin_off = s * np.maximum(np.sqrt(p0_off / s) - reach, 0.0) ** 2
        g = np.random.default_rng(0)  # typical-intensity estimate only (not part of any bound)
        frames = (g.random((256, n)) < 0.5).astype(np.uint8)
        frames[~frames.any(axis=1), 0] = 1
        pmean_on = opu.optical_power(frames, reference=True, time_s=t).astype(np.float64).mean(axis=0)
        pmean_off = opu.optical_power(frames, reference=False, time_s=t).astype(np.float64).mean(axis=0)

    # the camera's noise model: temporal variance (shot of signal + dark, read) of the two readings
    # of a linear projection (reference ON and OFF), at the dimmest and at typical intensities
    floor_on, floor_off = opu.camera.reading_statistics(pmin_on), opu.camera.reading_statistics(pmin_off)
    typ_on, typ_off = opu.camera.reading_statistics(pmean_on), opu.camera.reading_statistics(pmean_off)
    var_floor = floor_on.temporal_var_e2 + floor_off.temporal_var_e2
    var_typ = typ_on.temporal_var_e2 + typ_off.temporal_var_e2
    sigma_floor = np.sqrt(var_floor)
    shot = cam.shot_noise
    shot_floor = (floor_on.signal_e + floor_off.signal_e) if shot else np.zeros(opu.n_out)  # signal part of the floor
    dark_e = floor_on.dark_e if shot else np.zeros(opu.n_out)
    # B_opt in sqrt(DN) per unit frame entry, times the reference normalisation N and the
    # conversion gain: the linear signal in electrons, divided by the noise floor in electrons
    b = opu.effective_linear_matrix(time_s=t)
    z_true = opu.camera.gain_dn_per_w() * (p0_on - p0_off)
    norm = reference_normalisation(z_true, cfg.reference.min_level_fraction).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = b * (norm * cam.gain_e_per_dn / sigma_floor)[:, None]
    w[~np.isfinite(w)] = np.inf
    w[b == 0] = 0.0
    return ProjectionNoise(
        snr_matrix=w,
        sigma_floor_e=sigma_floor,
        sigma_typical_e=np.sqrt(var_typ),
        shot_floor_e=shot_floor,
        dark_e=np.asarray(dark_e, dtype=np.float64) * np.ones(opu.n_out),
        read_noise_e=float(cam.read_noise_e),
        min_intensity_method=method,
        time_s=t,
    )
