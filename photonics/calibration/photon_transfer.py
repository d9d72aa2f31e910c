"""Photon transfer (EMVA 1288 style): system gain, read noise, dark signal, saturation, linearity.

The sensor is illuminated directly with flat fields of known power (the lab's integrating
sphere: :meth:`photonics.OPU.expose`) at a fixed exposure, from dark to beyond saturation.
At each level, frames come in pairs (A, B); the difference of a pair cancels every fixed
pattern (PRNU, DSNU), so its spatial variance is twice the *temporal* variance:

    sigma_y^2 = < ((y_A - <y_A>) - (y_B - <y_B>))^2 > / 2                 [DN^2]

With the linear camera model (signal in e-: mu_e; dark noise sigma_d; ADC step 1 DN)

    mu_y      = mu_y.dark + K mu_e
    sigma_y^2 = sigma_y.dark^2 + K (mu_y - mu_y.dark)                        (photon transfer)
    sigma_y.dark^2 = K^2 sigma_d^2 + sigma_q^2,    sigma_q^2 = 1/12 DN^2      (quantisation)

so the slope of sigma_y^2 - sigma_y.dark^2 against mu_y - mu_y.dark is the overall system
gain K [DN/e-] (weighted least squares through the origin, levels below 70 % of saturation),
and sigma_d = sqrt(sigma_y.dark^2 - 1/12) / K is the temporal dark noise [e-]. The 1/12 DN^2
of the ADC matters at 8 bits: with 8 e-/DN it is 5.3 e-^2 next to a 49 e-^2 read noise.
The uniform-quantisation model holds when sigma_y.dark >= 0.5 DN; below that the estimate is
flagged ``quantization_limited``.

Other quantities (EMVA 1288 release 4 definitions unless stated):

* dark signal mu_d = (mu_y.dark - black level) / K [e-], needs the camera's black-level
  register (a setting the lab chooses, like the exposure); dark electrons are Poisson, so
  the read noise proper is sqrt(sigma_d^2 - mu_d) (sigma_d itself is reported as
  ``temporal_dark_noise_e``);
* saturation capacity mu_e.sat = (mu_y.sat - mu_y.dark) / K with mu_y.sat the plateau of the
  mean output far beyond saturation (the clip level: ADC top or full well). EMVA's own
  definition (the variance maximum) lies one to two noise sigmas lower;
* quantum efficiency eta = R / K with R the responsivity d mu_y / d mu_p and mu_p the photons
  per pixel, mu_p = P t_exp lambda / (h c) (needs the calibrated power and the wavelength);
* linearity error LE = (max delta - min delta) / 2 [%], delta the relative deviation of
  mu_y - mu_y.dark from a straight-line fit against the power between 5 % and 95 % of
  saturation;
* SNR(mu_e) = mu_e / sqrt(sigma_d^2 + sigma_q^2 / K^2 + mu_e), absolute sensitivity threshold
  mu_e.min = sqrt(sigma_y.dark^2 / K^2 + 1/4) + 1/2 (SNR = 1), dynamic range
  DR = 20 log10(mu_e.sat / mu_e.min) [dB].
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..errors import CalibrationError, ShapeError, ValidationError
from ..units import photon_energy_j
from ..validation import as_float_array, check_int, check_real
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = [
    "PhotonTransferResult",
    "measure_photon_transfer",
    "analyze_photon_transfer",
    "find_saturation_power",
    "pair_temporal_variance",
    "QUANTIZATION_VAR_DN2",
]

#: Variance of the uniform rounding error of an ideal ADC, 1/12 DN^2.
QUANTIZATION_VAR_DN2 = 1.0 / 12.0
#: EMVA 1288 fit range of the photon transfer curve (fraction of the saturation signal).
PTC_FIT_FRACTION = 0.7
#: Range of the linearity fit (fractions of the saturation signal).
LINEARITY_RANGE = (0.05, 0.95)


@dataclass(frozen=True)
class PhotonTransferResult(CalibrationResult):
    """EMVA 1288 photon transfer characterisation of a camera.

    Per-level arrays (one entry per illumination level, ascending power):
    ``power_w`` [W], ``photons`` [photons/pixel/frame], ``mean_dn`` mu_y [DN],
    ``temporal_var_dn2`` sigma_y^2 [DN^2] and its standard error, ``saturated_fraction``
    (pixels at the ADC top), ``snr`` (measured (mu_y - mu_y.dark) / sigma_y), ``used_in_fit``.
    """

    KIND = "photon_transfer"
    UNITS = {
        "exposure_s": "s",
        "power_w": "W",
        "photons": "photons/pixel",
        "mean_dn": "DN",
        "temporal_var_dn2": "DN^2",
        "temporal_var_se_dn2": "DN^2",
        "saturated_fraction": "1",
        "snr": "1",
        "black_level_dn": "DN",
    }

    exposure_s: float
    n_pixels: int
    frames_per_level: int
    n_dark_frames: int
    power_w: np.ndarray
    photons: np.ndarray | None
    mean_dn: np.ndarray
    temporal_var_dn2: np.ndarray
    temporal_var_se_dn2: np.ndarray
    saturated_fraction: np.ndarray
    snr: np.ndarray
    used_in_fit: np.ndarray
    dark_mean_dn: Measured
    dark_var_dn2: Measured
    system_gain_dn_per_e: Measured
    temporal_dark_noise_e: Measured
    read_noise_e: Measured
    read_noise_dn: Measured
    linearity_error_pct: Measured
    absolute_sensitivity_threshold_e: Measured
    quantization_limited: bool
    black_level_dn: float | None = None
    dark_signal_e: Measured | None = None
    saturation_dn: Measured | None = None
    saturation_capacity_e: Measured | None = None
    dynamic_range_db: Measured | None = None
    snr_max: Measured | None = None
    quantum_efficiency: Measured | None = None

    @property
    def signal_e(self) -> np.ndarray:
        """Mean signal of each level in electrons, (mu_y - mu_y.dark) / K [e-]."""
        return (self.mean_dn - self.dark_mean_dn.value) / self.system_gain_dn_per_e.value

    def snr_model(self, mu_e) -> np.ndarray:
        """Model SNR for a signal of ``mu_e`` electrons: mu_e / sqrt(sigma_y.dark^2 / K^2 + mu_e)."""
        mu_e = np.asarray(mu_e, dtype=np.float64)
        k = self.system_gain_dn_per_e.value
        return mu_e / np.sqrt(self.dark_var_dn2.value / k**2 + np.maximum(mu_e, 0.0))


# ----------------------------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------------------------
def pair_temporal_variance(frames: np.ndarray) -> tuple[float, float, int]:
    """Temporal variance from consecutive frame pairs, EMVA 1288 difference method.

    Parameters
    ----------
    frames : ndarray (n_frames, n_pixels)
        Frames of one illumination level; frames (0, 1), (2, 3), ... form the pairs (an odd
        last frame is ignored).

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


def _wls_origin(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Weighted least squares y = k x through the origin; (k, se_k scaled by sqrt(chi2_red), chi2_red)."""
    se = np.asarray(se, dtype=np.float64)
    pos = se[se > 0]
    w = 1.0 / np.maximum(se, pos.min() if pos.size else 1.0) ** 2  # noise-free data: equal weights
    sxx = float(np.sum(w * x * x))
    k = float(np.sum(w * x * y) / sxx)
    dof = max(1, x.size - 1)
    chi2 = float(np.sum(w * (y - k * x) ** 2) / dof)
    return k, math.sqrt(max(1.0, chi2) / sxx), chi2


# ----------------------------------------------------------------------------------------------
# analysis
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
    fit_fraction: float = PTC_FIT_FRACTION,
) -> PhotonTransferResult:
    """Photon transfer analysis of flat-field frames (no device access; see module docstring).

    Parameters
    ----------
    level_frames : array (n_levels, n_frames, n_pixels)
        Frames at each illumination level [DN]; consecutive frames are paired.
    dark_frames : array (n_dark, n_pixels)
        Frames with the light blocked, same exposure [DN].
    power_w : array (n_levels,)
        Optical power on each pixel at each level [W], > 0 (the calibrated sphere reading).
    exposure_s : float
        Exposure of every frame [s].
    max_dn : float, optional
        Top ADC code (2**bits - 1), known from the bit depth; pixels there count as saturated.
    black_level_dn : float, optional
        The camera's black-level (offset) register [DN]; needed for the dark signal in e-.
    wavelength_m : float, optional
        Light wavelength [m]; needed for photon counts and the quantum efficiency.
    fit_fraction : float
        Upper end of the gain fit, as a fraction of the saturation signal (EMVA: 0.7).

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
    if lf.ndim != 3:
        raise ShapeError(f"level_frames must be (n_levels, n_frames, n_pixels) (got shape {lf.shape})")
    if df.ndim != 2:
        raise ShapeError(f"dark_frames must be (n_frames, n_pixels) (got shape {df.shape})")
    n_levels, n_frames, n_pix = lf.shape
    if df.shape[1] != n_pix:
        raise ShapeError(f"dark_frames have {df.shape[1]} pixels but level_frames have {n_pix}")
    p = as_float_array(power_w, "power_w", dtype=np.float64)
    if p.shape != (n_levels,):
        raise ShapeError(f"power_w must have one entry per level, shape ({n_levels},) (got {p.shape})")
    if np.any(p <= 0):
        raise ValidationError(f"power_w must be > 0 W at every level (got minimum {p.min():g}); dark frames go in dark_frames")
    exposure_s = check_real(exposure_s, "exposure_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError)
    fit_fraction = check_real(fit_fraction, "fit_fraction", low=0.05, high=1.0, error=ValidationError)
    if n_levels < 3:
        raise CalibrationError(f"too few illumination levels: a photon transfer curve needs at least 3 (got {n_levels})")
    if n_frames < 2 or df.shape[0] < 2:
        raise CalibrationError(
            f"too few frames: the difference method needs at least 2 frames (one pair) per level and 2 dark frames "
            f"(got {n_frames} per level and {df.shape[0]} dark)"
        )
    if n_pix < 16:
        raise CalibrationError(f"too few pixels for spatial averaging: need at least 16 (got {n_pix})")
    order = np.argsort(p, kind="stable")
    p = p[order]

    dark = as_float_array(df, "dark_frames", dtype=np.float64)
    mu_d = float(dark.mean())
    var_d, var_d_se, _ = pair_temporal_variance(dark)
    mu_d_se = math.sqrt(max(var_d, 0.0) / dark.size)

    mean = np.empty(n_levels)
    var = np.empty(n_levels)
    var_se = np.empty(n_levels)
    mean_se = np.empty(n_levels)
    sat = np.zeros(n_levels)
    for j, lvl in enumerate(order):
        f = as_float_array(lf[lvl], f"level_frames[{lvl}]", dtype=np.float64)
        mean[j] = f.mean()
        var[j], var_se[j], _ = pair_temporal_variance(f)
        mean_se[j] = math.sqrt(max(var[j], 0.0) / f.size)
        if max_dn is not None:
            sat[j] = float(np.mean(f >= max_dn))
    signal = mean - mu_d

    # saturation: the top two levels on a common plateau well above the linear trend
    sat_dn = None
    lin_guess = signal[0] / p[0] if signal[0] > 0 else None
    if n_levels >= 4 and signal[-1] > 0:
        tol = max(5e-3 * signal[-1], 4.0 * math.hypot(mean_se[-1], mean_se[-2]))
        plateau = abs(signal[-1] - signal[-2]) <= tol and p[-1] >= 1.2 * p[-2]
        if plateau and lin_guess is not None and lin_guess * p[-1] > 1.2 * signal[-1]:
            sat_dn = Measured(float(mean[-1]), float(max(mean_se[-1], 1e-12)), "DN")
    sat_signal = (sat_dn.value - mu_d) if sat_dn is not None else float(signal.max())

    fit = (signal > 0) & (signal <= fit_fraction * sat_signal) & (sat <= 0.0)
    if sat_dn is not None:
        fit &= p < p[-2]
    n_fit = int(fit.sum())
    if n_fit < 3:
        raise CalibrationError(
            f"saturated series: only {n_fit} of {n_levels} illumination levels lie below {100 * fit_fraction:g} % of "
            "saturation without clipped pixels; a photon transfer fit needs at least 3 (lower the illumination or add levels)"
        )
    k, k_se, chi2 = _wls_origin(signal[fit], var[fit] - var_d, np.hypot(var_se[fit], var_d_se))
    if not (k > 0) or k < 3 * k_se:
        raise CalibrationError(
            f"no photon transfer: the temporal variance does not grow with the signal (slope {k:.3g} +/- {k_se:.3g} DN/e-); "
            "the camera shows no shot noise, so the system gain cannot be measured this way"
        )
    k_rel = k_se / k
    gain = Measured(k, k_se, "DN/e-")

    # dark noise and quantisation
    var_q = QUANTIZATION_VAR_DN2 if max_dn is not None or _looks_quantized(dark) else 0.0
    quant_limited = bool(var_q > 0 and var_d < 0.25)
    s_dn2 = max(var_d - var_q, 0.0)
    s_dn = math.sqrt(s_dn2)
    s_dn_se = var_d_se / (2 * s_dn) if s_dn > 0 else math.sqrt(var_d_se)
    sigma_d = Measured(s_dn / k, (s_dn / k) * math.hypot(s_dn_se / s_dn if s_dn > 0 else 1.0, k_rel), "e-")

    dark_signal = None
    read_e = sigma_d
    if black_level_dn is not None:
        mu_de = (mu_d - float(black_level_dn)) / k
        mu_de_se = math.hypot(mu_d_se / k, abs(mu_de) * k_rel)
        dark_signal = Measured(mu_de, mu_de_se, "e-")
        r2 = sigma_d.value**2 - max(mu_de, 0.0)
        if r2 > 0:
            r = math.sqrt(r2)
            r_se = math.hypot(sigma_d.value * sigma_d.uncertainty, 0.5 * mu_de_se) / r
            read_e = Measured(r, r_se, "e-")
    read_dn = Measured(read_e.value * k, read_e.value * k * math.hypot(read_e.relative_uncertainty(), k_rel), "DN")

    # saturation capacity, SNR, dynamic range
    sat_e = None
    snr_max = None
    if sat_dn is not None:
        v = (sat_dn.value - mu_d) / k
        sat_e = Measured(v, abs(v) * math.hypot(math.hypot(sat_dn.uncertainty, mu_d_se) / max(sat_dn.value - mu_d, 1e-12), k_rel), "e-")
        snr_max = Measured(math.sqrt(v), 0.5 * math.sqrt(v) * sat_e.relative_uncertainty(), "1")
    mu_min = math.sqrt(var_d / k**2 + 0.25) + 0.5
    d_mu_min = (0.5 / math.sqrt(var_d / k**2 + 0.25)) * math.hypot(var_d_se / k**2, 2 * var_d / k**2 * k_rel)
    mu_min_m = Measured(mu_min, d_mu_min, "e-")
    dr = None
    if sat_e is not None:
        dr = Measured(
            20 * math.log10(sat_e.value / mu_min),
            20 / math.log(10) * math.hypot(sat_e.relative_uncertainty(), d_mu_min / mu_min),
            "dB",
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(var > 0, signal / np.sqrt(var), np.inf)

    # linearity
    lo, hi = LINEARITY_RANGE
    lin = (signal >= lo * sat_signal) & (signal <= hi * sat_signal)
    if sat_dn is not None:
        lin &= p < p[-2]
    if lin.sum() >= 3:
        coef = np.polyfit(p[lin], signal[lin], 1)
        fitv = np.polyval(coef, p[lin])
        delta = 100.0 * (signal[lin] - fitv) / fitv
        le = 0.5 * float(delta.max() - delta.min())
        le_se = float(np.median(100.0 * mean_se[lin] / fitv))
    else:
        le, le_se = math.nan, math.nan
    linearity = Measured(le, le_se, "%")

    # photons and quantum efficiency (needs the calibrated power and the wavelength)
    photons = None
    qe = None
    if wavelength_m is not None:
        wl = check_real(wavelength_m, "wavelength_m", low=200e-9, high=20e-6, unit="m", error=ValidationError)
        photons = p * exposure_s / photon_energy_j(wl)
        resp, resp_se, _ = _wls_origin(photons[fit], signal[fit], mean_se[fit] + 1e-12 * np.abs(signal[fit]))
        q = resp / k
        qe = Measured(q, q * math.hypot(resp_se / resp, k_rel), "1")

    log.info("photon transfer: K = %s, sigma_d = %s, chi2_red = %.3g, %d levels fitted", gain, sigma_d, chi2, n_fit)
    return PhotonTransferResult(
        exposure_s=exposure_s,
        n_pixels=int(n_pix),
        frames_per_level=int(n_frames),
        n_dark_frames=int(df.shape[0]),
        power_w=p,
        photons=photons,
        mean_dn=mean,
        temporal_var_dn2=var,
        temporal_var_se_dn2=var_se,
        saturated_fraction=sat,
        snr=snr,
        used_in_fit=fit,
        dark_mean_dn=Measured(mu_d, mu_d_se, "DN"),
        dark_var_dn2=Measured(var_d, var_d_se, "DN^2"),
        system_gain_dn_per_e=gain,
        temporal_dark_noise_e=sigma_d,
        read_noise_e=read_e,
        read_noise_dn=read_dn,
        linearity_error_pct=linearity,
        absolute_sensitivity_threshold_e=mu_min_m,
        quantization_limited=quant_limited,
        black_level_dn=None if black_level_dn is None else float(black_level_dn),
        dark_signal_e=dark_signal,
        saturation_dn=sat_dn,
        saturation_capacity_e=sat_e,
        dynamic_range_db=dr,
        snr_max=snr_max,
        quantum_efficiency=qe,
    )


def _looks_quantized(frames: np.ndarray) -> bool:
    f = np.asarray(frames)
    return f.dtype.kind in "iu" or bool(np.all(f[: min(4, f.shape[0])] == np.round(f[: min(4, f.shape[0])])))


# ----------------------------------------------------------------------------------------------
# acquisition on a device
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


def measure_photon_transfer(
    opu,
    *,
    n_levels: int = 20,
    frames_per_level: int | None = None,
    n_dark_frames: int | None = None,
    exposure_s: float | None = None,
    black_level_dn: float | None = None,
    wavelength_m: float | None = None,
    progress: bool = False,
) -> PhotonTransferResult:
    """Measure the photon transfer curve of a device's camera with flat fields.

    The lab knows the exposure it sets, the power of its calibrated flat field, the bit depth
    and, if given, the black-level register and the wavelength; gain, noise, QE and full well
    are what this measures. Levels are equally spaced in power up to 1.25 x the saturation
    power (found by :func:`find_saturation_power`), plus two levels at 2x and 3x that show the
    plateau.

    Parameters
    ----------
    opu : photonics.OPU
        The device (only :meth:`~photonics.OPU.expose` and :meth:`~photonics.OPU.dark_frames`
        are used).
    n_levels : int
        Levels below 1.25 x saturation (>= 3).
    frames_per_level : int, optional
        Frames per level (even, >= 2). Default: enough pairs for ~16,000 pixel-pair samples
        per level, between 4 and 64 frames.
    n_dark_frames : int, optional
        Dark frames (even, >= 2); default twice ``frames_per_level``.
    exposure_s : float, optional
        Exposure [s]; default the camera's configured exposure.
    black_level_dn, wavelength_m : float, optional
        Known settings; see :func:`analyze_photon_transfer`.
    progress : bool
        Show a progress bar over the levels.
    """
    n_levels = check_int(n_levels, "n_levels", low=3, high=10_000, error=ValidationError)
    if frames_per_level is None:
        frames_per_level = int(min(64, max(4, 2 * math.ceil(16384 / opu.n_out))))
    frames_per_level = check_int(frames_per_level, "frames_per_level", low=2, high=1 << 16, error=ValidationError)
    n_dark_frames = 2 * frames_per_level if n_dark_frames is None else check_int(n_dark_frames, "n_dark_frames", low=2, high=1 << 17, error=ValidationError)
    exposure_s = opu.camera.check_exposure(exposure_s)
    cam = opu.config.camera
    max_dn = float(cam.max_dn) if cam.quantize else None

    dark = opu.dark_frames(n_dark_frames, exposure_s)
    p_sat, p_max = find_saturation_power(opu, exposure_s, dark_frames=dark)
    if p_sat is None:
        log.warning("photon transfer: the output did not saturate up to %.3g W per pixel; no saturation capacity", p_max)
        powers = np.linspace(p_max / n_levels, p_max, n_levels)
    else:
        top = 1.25 * p_sat
        powers = np.concatenate([np.linspace(top / n_levels, top, n_levels), [2.0 * p_sat, 3.0 * p_sat]])
    frames = np.empty((powers.size, frames_per_level, opu.n_out), dtype=dark.dtype)
    for j in tqdm(range(powers.size), desc="photon transfer", unit="level", disable=not progress, leave=False):
        frames[j] = _flat_frames(opu, float(powers[j]), frames_per_level, exposure_s)
    return analyze_photon_transfer(
        frames,
        dark,
        powers,
        exposure_s,
        max_dn=max_dn,
        black_level_dn=black_level_dn,
        wavelength_m=wavelength_m,
    )
