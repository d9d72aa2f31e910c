"""Photon transfer, sensitivity, saturation, linearity and SNR (EMVA 1288 Release 4.0, linear).

The one implementation of the standard's temporal analysis, used for simulated devices and
for frames recorded on real cameras (:mod:`photonics.calibration.emva1288` builds the level
statistics from either). Input: illumination levels i (a series in exposure time at constant
irradiance, or in irradiance at constant exposure), each with at least one pair of frames,
and the dark level at each level's exposure.

Temporal statistics of a level (frames in pairs A, B; M x N pixels)::

    mu_y      = < (y_A + y_B) / 2 >                                                      [DN]
    sigma_y^2 = < ((y_A - <y_A>) - (y_B - <y_B>))^2 > / 2                                [DN^2]

(the difference of a pair cancels every fixed pattern; more pairs are averaged). The linear
camera model, with mu_p photons per pixel, K the overall system gain [DN/e-], eta the quantum
efficiency, sigma_d the temporal dark noise [e-] and sigma_q^2 = 1/12 DN^2 the ADC's rounding:

    mu_y - mu_y.dark           = K eta mu_p                        (sensitivity, R = K eta)
    sigma_y^2 - sigma_y.dark^2 = K (mu_y - mu_y.dark)              (photon transfer)
    sigma_y.dark^2             = K^2 sigma_d^2 + sigma_q^2

Estimates (each a :class:`~photonics.calibration.result.Measured` with its standard error):

* saturation (the standard's definition): the level of the **maximum temporal variance**
  sigma_y^2; mu_y.sat its mean, mu_p.sat its photons, mu_e.sat = (mu_y.sat - mu_y.dark) / K.
  Its uncertainty is half the signal range of the levels whose variance is statistically
  indistinguishable from the maximum (within 2 standard errors), at least half a grid step;
* the **clip level** (full well or ADC top): the plateau of the mean on levels far beyond
  saturation, mu_e.clip = (mu_y.clip - mu_y.dark) / K (None without such levels);
* K: weighted least squares of sigma_y^2 - sigma_y.dark^2 against mu_y - mu_y.dark through
  the origin, levels from the lowest to 70 % of the saturation signal (mu_y.sat - mu_y.dark),
  weights from the variance model var(sigma_y^2) = 2 sigma_y^4 / n (two passes);
* R: the same fit of mu_y - mu_y.dark against mu_p, and eta = R / K;
* sigma_d = sqrt(sigma_y.dark^2 - sigma_q^2) / K, with sigma_y.dark^2 at zero exposure (the
  intercept of a dark exposure series, when there is one) or at the series' exposure;
  sigma_y.dark^2 < 0.24 DN^2 is quantization-limited: 0.24 DN^2 is used and the result flagged;
* read noise: the same at zero exposure only (it needs dark frames at >= 2 exposures; else
  None, never the total dark noise in disguise);
* linearity: y = mu_y - mu_y.dark against x = mu_p (or any quantity proportional to it), the
  line a x + b minimising sum((y - a x - b) / y)^2 between 5 % and 95 % of the saturation
  signal; deviation delta = 100 (y - (a x + b)) / (a x + b) [%], LE = (max delta - min delta) / 2;
* SNR(mu_p) = eta mu_p / sqrt(sigma_d^2 + sigma_q^2 / K^2 + eta mu_p); SNR_max = sqrt(mu_e.sat);
  absolute sensitivity threshold mu_e.min = 1/2 + sqrt(1/4 + sigma_y.dark^2 / K^2) (SNR = 1),
  mu_p.min = mu_e.min / eta; dynamic range DR = mu_e.sat / mu_e.min (in dB: 20 log10, bits: log2).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError, ShapeError, ValidationError
from ..units import photon_energy_j
from ..validation import as_float_array, check_real
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = [
    "PhotonTransferResult",
    "LevelStatistics",
    "level_statistics",
    "analyze_levels",
    "analyze_photon_transfer",
    "find_saturation_power",
    "pair_temporal_variance",
    "QUANTIZATION_VAR_DN2",
    "QUANTIZATION_FLOOR_DN2",
]

#: Variance of the uniform rounding error of an ideal ADC, 1/12 DN^2.
QUANTIZATION_VAR_DN2 = 1.0 / 12.0
#: EMVA 1288: below this dark variance the dark noise is quantization-limited [DN^2].
QUANTIZATION_FLOOR_DN2 = 0.24
#: EMVA 1288 fit range of the photon transfer curve (fraction of the saturation signal).
PTC_FIT_FRACTION = 0.7
#: Range of the linearity fit (fractions of the saturation signal).
LINEARITY_RANGE = (0.05, 0.95)


@dataclass(frozen=True)
class PhotonTransferResult(CalibrationResult):
    """EMVA 1288 sensitivity, photon transfer, saturation, linearity and SNR of a camera.

    Per-level arrays (one entry per illumination level, ascending illumination):
    ``illumination`` (proportional to the photons; the photons themselves when known),
    ``level_exposure_s`` [s], ``power_w`` [W per pixel] (simulated devices), ``photons``
    [photons/pixel], ``mean_dn`` mu_y [DN], ``dark_level_dn`` mu_y.dark at the level's exposure
    [DN], ``temporal_var_dn2`` sigma_y^2 [DN^2] and its standard error,
    ``dark_level_var_dn2`` sigma_y.dark^2 at the level's exposure [DN^2],
    ``saturated_fraction`` (pixels at the ADC top), ``snr`` ((mu_y - mu_y.dark) / sigma_y),
    ``used_in_fit`` (the gain fit), ``used_in_linearity`` and ``linearity_deviation_pct``.
    ``saturation_index`` is the level of the variance maximum (-1: not reached).
    """

    KIND = "photon_transfer"
    UNITS = {
        "exposure_s": "s",
        "level_exposure_s": "s",
        "power_w": "W",
        "photons": "photons/pixel",
        "illumination": "photons/pixel or relative",
        "mean_dn": "DN",
        "mean_se_dn": "DN",
        "dark_level_dn": "DN",
        "dark_level_var_dn2": "DN^2",
        "temporal_var_dn2": "DN^2",
        "temporal_var_se_dn2": "DN^2",
        "saturated_fraction": "1",
        "snr": "1",
        "linearity_deviation_pct": "%",
        "black_level_dn": "DN",
        "dark_noise_exposure_s": "s",
    }

    mode: str
    exposure_s: float
    n_pixels: int
    frames_per_level: int
    n_dark_frames: int
    illumination: np.ndarray
    level_exposure_s: np.ndarray
    power_w: np.ndarray | None
    photons: np.ndarray | None
    mean_dn: np.ndarray
    mean_se_dn: np.ndarray
    dark_level_dn: np.ndarray
    dark_level_var_dn2: np.ndarray
    temporal_var_dn2: np.ndarray
    temporal_var_se_dn2: np.ndarray
    saturated_fraction: np.ndarray
    snr: np.ndarray
    used_in_fit: np.ndarray
    used_in_linearity: np.ndarray
    linearity_deviation_pct: np.ndarray
    saturation_index: int
    dark_mean_dn: Measured
    dark_var_dn2: Measured
    dark_noise_exposure_s: float
    system_gain_dn_per_e: Measured
    temporal_dark_noise_e: Measured
    linearity_error_pct: Measured
    absolute_sensitivity_threshold_e: Measured
    quantization_limited: bool
    quantized: bool
    read_noise_e: Measured | None = None
    read_noise_dn: Measured | None = None
    black_level_dn: float | None = None
    dark_signal_e: Measured | None = None
    saturation_dn: Measured | None = None
    saturation_capacity_e: Measured | None = None
    saturation_capacity_photons: Measured | None = None
    clip_level_dn: Measured | None = None
    clip_saturation_capacity_e: Measured | None = None
    dynamic_range_db: Measured | None = None
    dynamic_range_bits: Measured | None = None
    snr_max: Measured | None = None
    snr_max_db: Measured | None = None
    responsivity_dn_per_photon: Measured | None = None
    quantum_efficiency: Measured | None = None
    absolute_sensitivity_threshold_photons: Measured | None = None

    @property
    def signal_dn(self) -> np.ndarray:
        """mu_y - mu_y.dark of each level [DN]."""
        return self.mean_dn - self.dark_level_dn

    @property
    def signal_e(self) -> np.ndarray:
        """Mean signal of each level in electrons, (mu_y - mu_y.dark) / K [e-]."""
        return self.signal_dn / self.system_gain_dn_per_e.value

    def snr_model(self, mu_e) -> np.ndarray:
        """Model SNR for a signal of ``mu_e`` electrons: mu_e / sqrt(sigma_y.dark^2 / K^2 + mu_e)."""
        mu_e = np.asarray(mu_e, dtype=np.float64)
        k = self.system_gain_dn_per_e.value
        return mu_e / np.sqrt(self.dark_var_dn2.value / k**2 + np.maximum(mu_e, 0.0))


# ----------------------------------------------------------------------------------------------
# statistics of frames
# ----------------------------------------------------------------------------------------------
def pair_temporal_variance(frames: np.ndarray) -> tuple[float, float, int]:
    """Temporal variance from consecutive frame pairs, EMVA 1288 difference method.

    Parameters
    ----------
    frames : ndarray (n_frames, ...)
        Frames of one illumination level (any pixel layout after the first axis); frames
        (0, 1), (2, 3), ... form the pairs (an odd last frame is ignored).

    Returns
    -------
    var_dn2 : float
        sigma_y^2 = mean over pairs of < ((A - <A>) - (B - <B>))^2 > / 2 [DN^2].
    se_dn2 : float
        Its standard error, from the spread of the squared differences [DN^2].
    n_pairs : int
        Pairs used.
    """
    f = np.asarray(frames, dtype=np.float64)
    f = f.reshape(f.shape[0], -1)
    n_pairs = f.shape[0] // 2
    if n_pairs < 1:
        raise CalibrationError(f"too few frames: the difference method needs at least 2 frames (one pair) per level (got {f.shape[0]})")
    a = f[0 : 2 * n_pairs : 2]
    b = f[1 : 2 * n_pairs : 2]
    d = (a - a.mean(axis=1, keepdims=True)) - (b - b.mean(axis=1, keepdims=True))
    h = 0.5 * d * d
    n = h.size
    var = float(h.mean())
    se = float(h.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return var, se, n_pairs


@dataclass(frozen=True)
class LevelStatistics:
    """Temporal statistics of one stack of frames (one illumination level or one dark level).

    ``mean_dn`` mu_y, ``mean_se_dn`` its standard error, ``var_dn2`` sigma_y^2 (pairs),
    ``var_se_dn2`` its standard error, ``n_samples`` pixel-pairs, ``n_frames``,
    ``saturated_fraction`` (pixels at ``max_dn``), ``zero_fraction`` (pixels at 0 DN).
    """

    mean_dn: float
    mean_se_dn: float
    var_dn2: float
    var_se_dn2: float
    n_samples: int
    n_frames: int
    saturated_fraction: float
    zero_fraction: float


def level_statistics(frames, max_dn: float | None = None, name: str = "frames") -> LevelStatistics:
    """:class:`LevelStatistics` of a stack (n_frames >= 2, ...) [DN]."""
    raw = np.asarray(frames)
    if raw.ndim < 2:
        raise ShapeError(f"{name} must be (n_frames, pixels...) (got shape {raw.shape})")
    f = as_float_array(raw, name, dtype=np.float64).reshape(raw.shape[0], -1)
    var, se, n_pairs = pair_temporal_variance(f)
    mean = float(f.mean())
    return LevelStatistics(
        mean_dn=mean,
        mean_se_dn=math.sqrt(max(var, 0.0) / f.size),
        var_dn2=var,
        var_se_dn2=se,
        n_samples=int(n_pairs * f.shape[1]),
        n_frames=int(f.shape[0]),
        saturated_fraction=float(np.mean(f >= max_dn)) if max_dn is not None else 0.0,
        zero_fraction=float(np.mean(f <= 0.0)),
    )


# ----------------------------------------------------------------------------------------------
# fits
# ----------------------------------------------------------------------------------------------
def inverse_variance_weights(var) -> np.ndarray:
    """1 / var, with zero (noise-free) variances floored at 1e-12 of the largest (equal weights if all are 0)."""
    v = np.asarray(var, dtype=np.float64)
    pos = v[v > 0]
    floor = float(pos.max()) * 1e-12 if pos.size else 1.0
    return 1.0 / np.maximum(v, floor)


def _wls_origin(x: np.ndarray, y: np.ndarray, var_y: np.ndarray) -> tuple[float, float, float]:
    """Weighted least squares y = k x through the origin with known variances of y.

    Returns (k, se_k scaled by sqrt(max(1, chi2_red)), chi2_red).
    """
    w = inverse_variance_weights(var_y)
    sxx = float(np.sum(w * x * x))
    k = float(np.sum(w * x * y) / sxx)
    dof = max(1, x.size - 1)
    chi2 = float(np.sum(w * (y - k * x) ** 2) / dof)
    return k, math.sqrt(max(1.0, chi2) / sxx), chi2


def _relative_line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Line a x + b minimising sum(((y - a x - b) / y)^2) (least squares of relative deviations)."""
    w = 1.0 / (y * y)
    sw, sx, sxx = np.sum(w), np.sum(w * x), np.sum(w * x * x)
    sy, sxy = np.sum(w * y), np.sum(w * x * y)
    det = sw * sxx - sx * sx
    a = (sw * sxy - sx * sy) / det
    b = (sxx * sy - sx * sxy) / det
    return float(a), float(b)


def _variance_maximum(var: np.ndarray, var_se: np.ndarray) -> tuple[int, np.ndarray]:
    """Index of the maximum temporal variance and the levels indistinguishable from it (2 se)."""
    i = int(np.argmax(var))
    tol = 2.0 * np.hypot(var_se, var_se[i])
    return i, np.flatnonzero(var >= var[i] - tol)


# ----------------------------------------------------------------------------------------------
# analysis of level statistics (the one implementation)
# ----------------------------------------------------------------------------------------------
def analyze_levels(
    *,
    mean_dn,
    mean_se_dn,
    var_dn2,
    var_se_dn2,
    n_samples,
    saturated_fraction,
    dark_mean_dn,
    dark_mean_se_dn,
    dark_var_dn2,
    dark_var_se_dn2,
    illumination,
    level_exposure_s,
    dark_var_zero_dn2: Measured | None = None,
    sigma_d_at_zero: bool | None = None,
    dark_slope_dn_per_s: Measured | None = None,
    photons=None,
    power_w=None,
    quantized: bool = True,
    frames_per_level: int = 2,
    n_dark_frames: int = 2,
    n_pixels: int = 0,
    black_level_dn: float | None = None,
    fit_fraction: float = PTC_FIT_FRACTION,
) -> PhotonTransferResult:
    """EMVA 1288 temporal analysis of per-level statistics (see the module docstring).

    Parameters
    ----------
    mean_dn, mean_se_dn, var_dn2, var_se_dn2, n_samples, saturated_fraction : array (n_levels,)
        mu_y and its standard error [DN], sigma_y^2 and its standard error [DN^2], pixel-pairs
        behind sigma_y^2, fraction of pixels at the ADC top, per bright level.
    dark_mean_dn, dark_mean_se_dn, dark_var_dn2, dark_var_se_dn2 : array (n_levels,)
        mu_y.dark and sigma_y.dark^2 at each level's exposure, with standard errors.
    illumination : array (n_levels,)
        A quantity proportional to the photons per pixel (the photons when ``photons`` is
        given), > 0.
    level_exposure_s : array (n_levels,)
        Exposure of each level [s].
    dark_var_zero_dn2 : Measured, optional
        sigma_y.dark^2 extrapolated to zero exposure (dark exposure series). Gives the read
        noise; without it the read noise is not reported.
    sigma_d_at_zero : bool, optional
        Take sigma_d at zero exposure (needs ``dark_var_zero_dn2``) rather than at the series'
        exposure. Default: True for a series in exposure time, False for one in irradiance.
    dark_slope_dn_per_s : Measured, optional
        Slope of mu_y.dark against the exposure [DN/s] (dark exposure series): gives the dark
        signal (slope / K) t at the series' exposure.
    photons : array (n_levels,), optional
        Mean photons per pixel; gives R, eta, mu_p.sat and mu_p.min.
    power_w : array (n_levels,), optional
        Flat-field power per pixel (simulated devices; kept for reference) [W].
    quantized : bool
        The frames are integer ADC codes (the 1/12 DN^2 of rounding is in sigma_y.dark^2).
    black_level_dn : float, optional
        The camera's black-level register [DN]: gives a dark signal (mu_y.dark - black) / K
        when no dark current is known.
    fit_fraction : float
        Upper end of the gain fit as a fraction of the saturation signal (EMVA: 0.7).

    Raises
    ------
    CalibrationError
        Fewer than 3 levels below the fit limit, or no photon transfer (no shot noise).
    """
    mu = np.asarray(mean_dn, dtype=np.float64)
    n_levels = mu.size
    arrays = {}
    for name, v in (("mean_se_dn", mean_se_dn), ("var_dn2", var_dn2), ("var_se_dn2", var_se_dn2), ("n_samples", n_samples),
                    ("saturated_fraction", saturated_fraction), ("dark_mean_dn", dark_mean_dn), ("dark_mean_se_dn", dark_mean_se_dn),
                    ("dark_var_dn2", dark_var_dn2), ("dark_var_se_dn2", dark_var_se_dn2), ("illumination", illumination),
                    ("level_exposure_s", level_exposure_s)):
        a = np.asarray(v, dtype=np.float64)
        if a.shape != (n_levels,):
            raise ShapeError(f"{name} must have one entry per level, shape ({n_levels},) (got {a.shape})")
        arrays[name] = a
    fit_fraction = check_real(fit_fraction, "fit_fraction", low=0.05, high=1.0, error=ValidationError)
    if n_levels < 3:
        raise CalibrationError(f"too few illumination levels: a photon transfer curve needs at least 3 (got {n_levels})")
    x = arrays["illumination"]
    if np.any(~np.isfinite(x)) or np.any(x <= 0):
        raise ValidationError("the illumination of every level must be finite and > 0 (dark frames are given separately)")
    order = np.argsort(x, kind="stable")
    mu = mu[order]
    a = {k: v[order] for k, v in arrays.items()}
    x = a["illumination"]
    ph = None if photons is None else np.asarray(photons, dtype=np.float64)[order]
    pw = None if power_w is None else np.asarray(power_w, dtype=np.float64)[order]
    var, var_se = a["var_dn2"], a["var_se_dn2"]
    dmu, dvar = a["dark_mean_dn"], a["dark_var_dn2"]
    sig = mu - dmu
    sig_se = np.hypot(a["mean_se_dn"], a["dark_mean_se_dn"])
    sat_frac = a["saturated_fraction"]
    t_levels = a["level_exposure_s"]
    mode = "exposure" if np.ptp(t_levels) > 1e-9 * t_levels.max() else "irradiance"

    # ---- does the variance grow with the signal at all (shot noise)? --------------------------
    ok = (sig > 0) & (sat_frac <= 1e-3)
    ok &= sig <= np.median(sig[ok]) if ok.sum() >= 6 else ok  # the lower half: below any saturation
    if ok.sum() >= 3:
        k_all, k_all_se, _ = _wls_origin(sig[ok], var[ok] - dvar[ok], var_se[ok] ** 2 + a["dark_var_se_dn2"][ok] ** 2)
        if not (k_all > 3 * k_all_se):
            raise CalibrationError(
                f"no photon transfer: the temporal variance does not grow with the signal (slope {k_all:.3g} +/- {k_all_se:.3g} "
                "DN/e-); the camera shows no shot noise, so the system gain cannot be measured this way"
            )

    # ---- saturation: the maximum of the temporal variance ------------------------------------
    i_sat, near = _variance_maximum(var, var_se)
    reached = i_sat < n_levels - 1 and np.any(var[i_sat + 1 :] < var[i_sat] - 2 * np.hypot(var_se[i_sat + 1 :], var_se[i_sat]))
    s_top = float(sig[i_sat]) if reached else float(sig[: n_levels].max())

    # ---- gain: photon transfer fit -----------------------------------------------------------
    fit = (np.arange(n_levels) <= (i_sat if reached else n_levels - 1)) & (sig > 0) & (sig <= fit_fraction * s_top) & (sat_frac <= 1e-3)
    n_fit = int(fit.sum())
    if n_fit < 3:
        raise CalibrationError(
            f"saturated series: only {n_fit} of {n_levels} illumination levels lie below {100 * fit_fraction:g} % of "
            "saturation without clipped pixels; a photon transfer fit needs at least 3 (lower the illumination or add levels)"
        )
    xs, ys = sig[fit], var[fit] - dvar[fit]
    ns = np.maximum(a["n_samples"][fit], 1.0)
    k0 = float(np.sum(xs * ys) / np.sum(xs * xs))
    k = k0
    for _ in range(2):  # weights from the variance model 2 sigma^4 / n at the current K
        pred = np.maximum(dvar[fit] + max(k, 0.0) * xs, 1e-12)
        k, k_se, chi2 = _wls_origin(xs, ys, 2.0 * pred**2 / ns)
    w = ns / (2.0 * np.maximum(dvar[fit] + max(k, 0.0) * xs, 1e-12) ** 2)
    dk_dvd = -float(np.sum(w * xs) / np.sum(w * xs * xs))  # dK / d(sigma_y.dark^2): the dark variance is in every point
    k_se_fit = k_se
    k_se = math.hypot(k_se_fit, dk_dvd * float(np.mean(a["dark_var_se_dn2"][fit])))
    if not (k > 0) or k < 3 * k_se:
        raise CalibrationError(
            f"no photon transfer: the temporal variance does not grow with the signal (slope {k:.3g} +/- {k_se:.3g} DN/e-); "
            "the camera shows no shot noise, so the system gain cannot be measured this way"
        )
    k_rel = k_se / k
    gain = Measured(k, k_se, "DN/e-")

    # ---- dark noise --------------------------------------------------------------------------
    t_series = float(t_levels[i_sat]) if mode == "exposure" else float(t_levels[0])
    ref = int(np.argmin(np.abs(t_levels - t_series)))
    if sigma_d_at_zero is None:
        sigma_d_at_zero = mode == "exposure"
    if sigma_d_at_zero and dark_var_zero_dn2 is not None:
        vd, vd_se, t_dark = dark_var_zero_dn2.value, dark_var_zero_dn2.uncertainty, 0.0
    else:
        vd, vd_se, t_dark = float(dvar[ref]), float(a["dark_var_se_dn2"][ref]), float(t_levels[ref])
    var_q = QUANTIZATION_VAR_DN2 if quantized else 0.0
    quant_limited = bool(quantized and vd < QUANTIZATION_FLOOR_DN2)
    vd_used = max(vd, QUANTIZATION_FLOOR_DN2) if quantized else max(vd, 0.0)
    s_dn = math.sqrt(max(vd_used - var_q, 0.0))
    # sigma_d = sqrt(vd - q) / K and K itself moves with the dark variance (dK/dvd < 0): both
    # terms of an error in vd add up; the fit's own error of K is independent
    if s_dn > 0:
        rel = math.hypot(vd_se * (0.5 / s_dn**2 - dk_dvd / k), k_se_fit / k)
        sigma_d = Measured(s_dn / k, (s_dn / k) * rel, "e-")
    else:
        sigma_d = Measured(0.0, math.sqrt(vd_se) / k, "e-")
    read_e = read_dn = None
    if dark_var_zero_dn2 is not None:
        r_dn = math.sqrt(max(dark_var_zero_dn2.value - var_q, 0.0))
        r_se = dark_var_zero_dn2.uncertainty / (2 * r_dn) if r_dn > 0 else math.sqrt(dark_var_zero_dn2.uncertainty)
        read_dn = Measured(r_dn, r_se, "DN")
        read_e = Measured(r_dn / k, (r_dn / k) * math.hypot(r_se / r_dn if r_dn > 0 else 1.0, k_rel), "e-")
    dark_at = Measured(float(dmu[ref]), float(a["dark_mean_se_dn"][ref]), "DN")
    dark_var = Measured(vd_used, vd_se, "DN^2")

    dark_signal = None
    if dark_slope_dn_per_s is not None:
        v = dark_slope_dn_per_s.value * t_series / k
        dark_signal = Measured(v, math.hypot(dark_slope_dn_per_s.uncertainty * t_series / k, abs(v) * k_rel), "e-")
    elif black_level_dn is not None:
        v = (dark_at.value - float(black_level_dn)) / k
        dark_signal = Measured(v, math.hypot(dark_at.uncertainty / k, abs(v) * k_rel), "e-")

    # ---- responsivity and quantum efficiency -------------------------------------------------
    resp = qe = None
    if ph is not None:
        r, r_se, _ = _wls_origin(ph[fit], sig[fit], sig_se[fit] ** 2 + (1e-9 * np.abs(sig[fit])) ** 2)
        resp = Measured(r, r_se, "DN/photon")
        q = r / k
        qe = Measured(q, q * math.hypot(r_se / r, k_rel), "1")

    # ---- saturation capacity (variance maximum) and clip level -------------------------------
    sat_dn = sat_e = sat_p = None
    if reached:
        # the true maximum lies among the levels indistinguishable from it, the observed one too:
        # half their range (at least half a grid step) as the standard uncertainty
        grid = np.diff(sig[max(i_sat - 1, 0) : i_sat + 2])
        step = float(np.max(np.abs(grid))) if grid.size else 0.0
        spread = 0.5 * float(sig[near].max() - sig[near].min())
        u_sig = math.hypot(max(spread, 0.5 * step), sig_se[i_sat])
        sat_dn = Measured(float(mu[i_sat]), u_sig, "DN")
        v = float(sig[i_sat]) / k
        sat_e = Measured(v, v * math.hypot(u_sig / sig[i_sat], k_rel), "e-")
        if ph is not None:
            sat_p = Measured(float(ph[i_sat]), float(ph[i_sat]) * u_sig / sig[i_sat], "photons")
    clip_dn = clip_e = None
    plateau = _plateau(x, sig, sig_se, fit)
    if plateau is not None:
        m = float(np.mean(mu[plateau]))
        s = float(np.mean(sig[plateau]))
        s_se = math.hypot(float(np.std(sig[plateau], ddof=1)) / math.sqrt(plateau.size) if plateau.size > 1 else 0.0,
                          float(np.mean(sig_se[plateau])))
        clip_dn = Measured(m, max(s_se, 1e-12), "DN")
        clip_e = Measured(s / k, (s / k) * math.hypot(s_se / s, k_rel), "e-")

    # ---- SNR, threshold, dynamic range -------------------------------------------------------
    mu_min = 0.5 + math.sqrt(0.25 + vd_used / k**2)
    d_mu_min = (0.5 / math.sqrt(0.25 + vd_used / k**2)) * math.hypot(vd_se / k**2, 2 * vd_used / k**2 * k_rel)
    mu_min_m = Measured(mu_min, d_mu_min, "e-")
    mu_p_min = None
    if qe is not None:
        mu_p_min = Measured(mu_min / qe.value, (mu_min / qe.value) * math.hypot(d_mu_min / mu_min, qe.relative_uncertainty()), "photons")
    dr = dr_bits = snr_max = snr_max_db = None
    if sat_e is not None and sat_e.value > 0:
        ratio = sat_e.value / mu_min
        rel = math.hypot(sat_e.relative_uncertainty(), d_mu_min / mu_min)
        dr = Measured(20 * math.log10(ratio), 20 / math.log(10) * rel, "dB")
        dr_bits = Measured(math.log2(ratio), rel / math.log(2), "bit")
        snr_max = Measured(math.sqrt(sat_e.value), 0.5 * math.sqrt(sat_e.value) * sat_e.relative_uncertainty(), "1")
        snr_max_db = Measured(10 * math.log10(sat_e.value), 10 / math.log(10) * sat_e.relative_uncertainty(), "dB")
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(var > 0, sig / np.sqrt(var), np.inf)

    # ---- linearity ---------------------------------------------------------------------------
    lo, hi = LINEARITY_RANGE
    upto = np.arange(n_levels) <= (i_sat if reached else n_levels - 1)
    lin = upto & (sig >= lo * s_top) & (sig <= hi * s_top)
    dev = np.full(n_levels, np.nan)
    if lin.sum() >= 3:
        a_lin, b_lin = _relative_line_fit(x[lin], sig[lin])
        line = a_lin * x + b_lin
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = np.where(line > 0, 100.0 * (sig - line) / line, np.nan)
        le = 0.5 * float(np.nanmax(dev[lin]) - np.nanmin(dev[lin]))
        le_se = float(np.median(100.0 * sig_se[lin] / line[lin]))
    else:
        le, le_se = math.nan, math.nan
    linearity = Measured(le, le_se, "%")

    log.info("photon transfer: K = %s, sigma_d = %s, chi2_red = %.3g, %d levels fitted, saturation %s", gain, sigma_d, chi2, n_fit,
             sat_e if sat_e is not None else "not reached")
    return PhotonTransferResult(
        mode=mode,
        exposure_s=t_series,
        n_pixels=int(n_pixels),
        frames_per_level=int(frames_per_level),
        n_dark_frames=int(n_dark_frames),
        illumination=x,
        level_exposure_s=t_levels,
        power_w=pw,
        photons=ph,
        mean_dn=mu,
        mean_se_dn=a["mean_se_dn"],
        dark_level_dn=dmu,
        dark_level_var_dn2=dvar,
        temporal_var_dn2=var,
        temporal_var_se_dn2=var_se,
        saturated_fraction=sat_frac,
        snr=snr,
        used_in_fit=fit,
        used_in_linearity=lin,
        linearity_deviation_pct=dev,
        saturation_index=int(i_sat) if reached else -1,
        dark_mean_dn=dark_at,
        dark_var_dn2=dark_var,
        dark_noise_exposure_s=t_dark,
        system_gain_dn_per_e=gain,
        temporal_dark_noise_e=sigma_d,
        linearity_error_pct=linearity,
        absolute_sensitivity_threshold_e=mu_min_m,
        quantization_limited=quant_limited,
        quantized=bool(quantized),
        read_noise_e=read_e,
        read_noise_dn=read_dn,
        black_level_dn=None if black_level_dn is None else float(black_level_dn),
        dark_signal_e=dark_signal,
        saturation_dn=sat_dn,
        saturation_capacity_e=sat_e,
        saturation_capacity_photons=sat_p,
        clip_level_dn=clip_dn,
        clip_saturation_capacity_e=clip_e,
        dynamic_range_db=dr,
        dynamic_range_bits=dr_bits,
        snr_max=snr_max,
        snr_max_db=snr_max_db,
        responsivity_dn_per_photon=resp,
        quantum_efficiency=qe,
        absolute_sensitivity_threshold_photons=mu_p_min,
    )


def _plateau(x: np.ndarray, sig: np.ndarray, sig_se: np.ndarray, fit: np.ndarray) -> np.ndarray | None:
    """Indices of the top levels on the clip plateau, or None.

    A level belongs to the plateau when its signal equals the top level's within 4 standard
    errors (and 0.5 %), and the linear response extrapolated from the fitted levels is > 5 %
    above it (it is far beyond saturation, not merely near it). At least 2 such levels.
    """
    slope = float(np.sum(x[fit] * sig[fit]) / np.sum(x[fit] ** 2))
    top = sig[-1]
    if not top > 0:
        return None
    tol = np.maximum(4.0 * np.hypot(sig_se, sig_se[-1]), 5e-3 * abs(top))
    on = (np.abs(sig - top) <= tol) & (slope * x > 1.05 * top)
    idx = []
    for j in range(x.size - 1, -1, -1):  # contiguous from the top
        if not on[j]:
            break
        idx.append(j)
    return np.array(sorted(idx)) if len(idx) >= 2 else None


# ----------------------------------------------------------------------------------------------
# frames -> levels (flat pixel vectors of one exposure; the API before EMVA series)
# ----------------------------------------------------------------------------------------------
def analyze_photon_transfer(
    level_frames,
    dark_frames,
    power_w,
    exposure_s: float,
    *,
    max_dn: float | None = None,
    black_level_dn: float | None = None,
    wavelength_m: float | None = None,
    dark_var_zero_dn2: Measured | None = None,
    fit_fraction: float = PTC_FIT_FRACTION,
) -> PhotonTransferResult:
    """Photon transfer analysis of flat-field frames at one exposure (an irradiance series).

    A thin user of :func:`analyze_levels`; for 2-D images, exposure series, dark current and
    spatial non-uniformity use :func:`photonics.calibration.emva1288.analyze_emva1288`.

    Parameters
    ----------
    level_frames : array (n_levels, n_frames, n_pixels...)
        Frames at each illumination level [DN]; consecutive frames are paired.
    dark_frames : array (n_dark, n_pixels...)
        Frames with the light blocked, same exposure [DN].
    power_w : array (n_levels,)
        Optical power on each pixel at each level [W], > 0 (the calibrated sphere reading).
    exposure_s : float
        Exposure of every frame [s].
    max_dn : float, optional
        Top ADC code (2**bits - 1), known from the bit depth; pixels there count as saturated.
    black_level_dn : float, optional
        The camera's black-level (offset) register [DN]; gives a dark signal in e-.
    wavelength_m : float, optional
        Light wavelength [m]; needed for photon counts and the quantum efficiency.
    dark_var_zero_dn2 : Measured, optional
        Dark variance at zero exposure from a dark exposure series (gives the read noise).

    Raises
    ------
    ShapeError
        Mismatched array shapes.
    CalibrationError
        Too few frames or levels, a series that is saturated almost everywhere, or no
        photon shot noise (the variance does not grow with the signal).
    """
    lf = np.asarray(level_frames)
    df = np.asarray(dark_frames)
    if lf.ndim < 3:
        raise ShapeError(f"level_frames must be (n_levels, n_frames, n_pixels) (got shape {lf.shape})")
    if df.ndim < 2:
        raise ShapeError(f"dark_frames must be (n_frames, n_pixels) (got shape {df.shape})")
    n_levels, n_frames = lf.shape[:2]
    n_pix = int(np.prod(lf.shape[2:]))
    if int(np.prod(df.shape[1:])) != n_pix:
        raise ShapeError(f"dark_frames have {int(np.prod(df.shape[1:]))} pixels but level_frames have {n_pix}")
    p = as_float_array(power_w, "power_w", dtype=np.float64)
    if p.shape != (n_levels,):
        raise ShapeError(f"power_w must have one entry per level, shape ({n_levels},) (got {p.shape})")
    if np.any(p <= 0):
        raise ValidationError(f"power_w must be > 0 W at every level (got minimum {p.min():g}); dark frames go in dark_frames")
    exposure_s = check_real(exposure_s, "exposure_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError)
    if n_levels < 3:
        raise CalibrationError(f"too few illumination levels: a photon transfer curve needs at least 3 (got {n_levels})")
    if n_frames < 2 or df.shape[0] < 2:
        raise CalibrationError(
            f"too few frames: the difference method needs at least 2 frames (one pair) per level and 2 dark frames "
            f"(got {n_frames} per level and {df.shape[0]} dark)"
        )
    if n_pix < 16:
        raise CalibrationError(f"too few pixels for spatial averaging: need at least 16 (got {n_pix})")
    dark = level_statistics(df, max_dn, "dark_frames")
    stats = [level_statistics(lf[j], max_dn, f"level_frames[{j}]") for j in range(n_levels)]
    quantized = max_dn is not None or _looks_quantized(df)
    photons = None
    if wavelength_m is not None:
        wl = check_real(wavelength_m, "wavelength_m", low=200e-9, high=20e-6, unit="m", error=ValidationError)
        photons = p * exposure_s / photon_energy_j(wl)
    ones = np.ones(n_levels)
    return analyze_levels(
        mean_dn=[s.mean_dn for s in stats],
        mean_se_dn=[s.mean_se_dn for s in stats],
        var_dn2=[s.var_dn2 for s in stats],
        var_se_dn2=[s.var_se_dn2 for s in stats],
        n_samples=[s.n_samples for s in stats],
        saturated_fraction=[s.saturated_fraction for s in stats],
        dark_mean_dn=dark.mean_dn * ones,
        dark_mean_se_dn=dark.mean_se_dn * ones,
        dark_var_dn2=dark.var_dn2 * ones,
        dark_var_se_dn2=dark.var_se_dn2 * ones,
        illumination=photons if photons is not None else p * exposure_s,
        level_exposure_s=exposure_s * ones,
        dark_var_zero_dn2=dark_var_zero_dn2,
        photons=photons,
        power_w=p,
        quantized=quantized,
        frames_per_level=n_frames,
        n_dark_frames=df.shape[0],
        n_pixels=n_pix,
        black_level_dn=black_level_dn,
        fit_fraction=fit_fraction,
    )


def _looks_quantized(frames: np.ndarray) -> bool:
    f = np.asarray(frames)
    return f.dtype.kind in "iu" or bool(np.all(f[: min(4, f.shape[0])] == np.round(f[: min(4, f.shape[0])])))


# ----------------------------------------------------------------------------------------------
# acquisition helper on a device
# ----------------------------------------------------------------------------------------------
def _flat_frames(opu, power_w: float, n: int, exposure_s: float) -> np.ndarray:
    return opu.expose(np.full((n, opu.n_out), power_w, dtype=np.float64), exposure_s=exposure_s)


def find_saturation_power(
    opu,
    exposure_s: float | None = None,
    *,
    dark_frames: np.ndarray | None = None,
    start_power_w: float = 1e-18,
    n_frames: int = 2,
    max_doublings: int = 90,
) -> tuple[float | None, float]:
    """Flat-field power at which the camera output saturates, found by doubling the power.

    Starting at ``start_power_w`` the power doubles until the mean signal stops growing (less
    than 10 % gain per doubling) after it has been seen to grow linearly (x2 per doubling)
    well above the noise of the dark level. The saturation power is then the plateau signal
    divided by the slope of the last level below half of it.

    Returns
    -------
    p_sat_w : float or None
        Power per pixel that just reaches the plateau [W]; None if the output never saturated.
    p_max_w : float
        Largest power tried [W].
    """
    exposure_s = opu.camera.check_exposure(exposure_s)
    if dark_frames is None:
        dark_frames = opu.dark_frames(max(2, n_frames), exposure_s)
    dark = np.asarray(dark_frames, dtype=np.float64)
    dark_mean = float(dark.mean())
    floor = 20.0 * float(dark.std()) / math.sqrt(n_frames * opu.n_out)
    history: list[tuple[float, float]] = []
    p = float(start_power_w)
    prev = None
    grew = False
    for _ in range(int(max_doublings)):
        sig = float(_flat_frames(opu, p, n_frames, exposure_s).astype(np.float64).mean()) - dark_mean
        history.append((p, sig))
        if prev is not None and prev > floor:
            if sig > 1.6 * prev:
                grew = True
            elif grew and sig < 1.1 * prev:
                below = [(pp, ss) for pp, ss in history if floor < ss < 0.5 * sig]
                if below:
                    pp, ss = below[-1]
                    return sig / (ss / pp), p
                return p / 4, p
        prev = sig
        p *= 2.0
    return None, p / 2.0
