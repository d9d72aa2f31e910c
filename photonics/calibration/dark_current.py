"""Dark current and its non-uniformity from dark frames at several exposures (EMVA 1288 R4.0).

For dark stacks at exposures t_j (L_j >= 2 frames each), with pair statistics per stack
(:func:`~photonics.calibration.photon_transfer.level_statistics`)::

    mu_y.dark(t)      = mu_y.dark(0) + K mu_I t                    (mean method)
    sigma_y.dark^2(t) = sigma_y.dark^2(0) + K^2 mu_I t             (variance method: dark shot noise)

so weighted straight-line fits (weights from the standard errors of each point) give the
dark current mu_I = slope / K [e-/s] (mean method) and slope / K^2 (variance method), the
offset mu_y.dark(0) [DN] and the dark variance at zero exposure sigma_y.dark^2(0) [DN^2],
whence the read noise sqrt(sigma_y.dark^2(0) - 1/12) / K [e-].

Per pixel, the same fit of the pixel's frame-averaged dark level gives its dark current I_i
and its offset o_i. Both raw maps carry the temporal noise of the averages; its variance
follows from the fit weights (var(b_i) = 1 / sum_j w_j (t_j - t_w)^2 with w_j = L_j /
sigma_y.dark^2(t_j)), and the non-uniformities are the spatial standard deviations with that
noise variance removed::

    sd(I)^2 = (var_i(b_i) - var_noise(b)) / K^2          [(e-/s)^2]
    sd(o)^2 = var_i(a_i) - var_noise(a)                  [DN^2]

The DSNU of EMVA 1288 at exposure t is then sqrt(sd(I)^2 t^2 + sd(o)^2 / K^2) [e-]
(measured directly by :mod:`photonics.calibration.maps`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError, ShapeError
from .photon_transfer import LevelStatistics, inverse_variance_weights, level_statistics
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = ["DarkSeries", "DarkCurrentResult", "dark_series", "analyze_dark_current", "weighted_line"]


def weighted_line(t: np.ndarray, y: np.ndarray, var_y: np.ndarray) -> tuple[float, float, np.ndarray, float]:
    """Weighted least squares y = a + b t with known variances.

    Returns (a, b, cov (2x2, scaled by max(1, chi2_red)), chi2_red).
    """
    w = inverse_variance_weights(var_y)
    sw, st, stt = w.sum(), (w * t).sum(), (w * t * t).sum()
    sy, sty = (w * y).sum(), (w * t * y).sum()
    det = sw * stt - st * st
    b = (sw * sty - st * sy) / det
    a = (stt * sy - st * sty) / det
    cov = np.array([[stt, -st], [-st, sw]]) / det
    dof = t.size - 2
    chi2 = float((w * (y - a - b * t) ** 2).sum() / dof) if dof > 0 else 1.0
    return float(a), float(b), cov * max(1.0, chi2), chi2


@dataclass(frozen=True)
class DarkSeries:
    """Statistics of dark stacks at one or more exposures (in DN; no gain needed).

    ``levels`` hold the :class:`LevelStatistics` per exposure (ascending). With >= 2 distinct
    exposures, ``mean_fit`` and ``var_fit`` are the (a, b, cov) of the straight-line fits of
    mu_y.dark and sigma_y.dark^2 against the exposure.
    """

    exposure_s: np.ndarray
    levels: tuple
    mean_fit: tuple | None
    var_fit: tuple | None

    @property
    def n_exposures(self) -> int:
        return int(self.exposure_s.size)

    def at(self, exposure_s: float) -> tuple[float, float, float, float]:
        """(mu_y.dark, se, sigma_y.dark^2, se) at an exposure: the stack taken at it, else the fits.

        Raises
        ------
        CalibrationError
            No dark stack at that exposure and fewer than 2 dark exposures to interpolate from.
        """
        t = float(exposure_s)
        j = int(np.argmin(np.abs(self.exposure_s - t)))
        if abs(self.exposure_s[j] - t) <= 1e-6 * max(t, 1e-30):
            s: LevelStatistics = self.levels[j]
            return s.mean_dn, s.mean_se_dn, s.var_dn2, s.var_se_dn2
        if self.mean_fit is None:
            raise CalibrationError(
                f"no dark frames at the exposure {t:g} s (dark exposures: {', '.join(f'{v:g}' for v in self.exposure_s)} s); "
                "take dark frames at every exposure of the series, or at >= 2 exposures to interpolate"
            )
        out = []
        for a, b, cov in (self.mean_fit, self.var_fit):
            v = np.array([1.0, t])
            out += [a + b * t, float(math.sqrt(max(v @ cov @ v, 0.0)))]
        return out[0], out[1], out[2], out[3]


def dark_series(exposure_s, stacks, max_dn: float | None = None) -> DarkSeries:
    """:class:`DarkSeries` of dark stacks (one per exposure; each (L_j >= 2, pixels...)).

    Raises
    ------
    CalibrationError
        A stack with fewer than 2 frames, or dark frames clipped at 0 DN or at the ADC top
        in more than 1 % of the pixels (the dark level must sit above zero: raise the offset).
    """
    t = np.asarray(exposure_s, dtype=np.float64).ravel()
    if t.size != len(stacks):
        raise ShapeError(f"{t.size} dark exposures for {len(stacks)} dark stacks")
    if t.size == 0:
        raise CalibrationError("no dark frames: EMVA 1288 needs dark frames at the exposure(s) of the series")
    order = np.argsort(t, kind="stable")
    levels = []
    for j in order:
        s = level_statistics(stacks[j], max_dn, f"dark frames at {t[j]:g} s")
        integer = np.asarray(stacks[j]).dtype.kind in "iu" or max_dn is not None
        if integer and s.zero_fraction > 0.01 and s.var_dn2 > 0:
            raise CalibrationError(
                f"saturated dark frames at {t[j]:g} s: {100 * s.zero_fraction:.3g} % of the pixels read 0 DN, so the dark "
                "level is clipped at zero and its mean and noise are biased; raise the camera's offset (black level)"
            )
        if s.saturated_fraction > 0.01:
            raise CalibrationError(
                f"saturated dark frames at {t[j]:g} s: {100 * s.saturated_fraction:.3g} % of the pixels are at the ADC top "
                f"{max_dn:g} DN; lower the offset or the exposure"
            )
        levels.append(s)
    t = t[order]
    mean_fit = var_fit = None
    if np.unique(t).size >= 2:
        m = np.array([s.mean_dn for s in levels])
        m_se = np.array([s.mean_se_dn for s in levels])
        v = np.array([s.var_dn2 for s in levels])
        v_se = np.array([s.var_se_dn2 for s in levels])
        a, b, cov, _ = weighted_line(t, m, m_se**2)
        mean_fit = (a, b, cov)
        a, b, cov, _ = weighted_line(t, v, v_se**2)
        var_fit = (a, b, cov)
    return DarkSeries(exposure_s=t, levels=tuple(levels), mean_fit=mean_fit, var_fit=var_fit)


@dataclass(frozen=True)
class DarkCurrentResult(CalibrationResult):
    """Dark current (mean and variance methods), offset, read noise and their non-uniformities.

    Arrays: ``exposure_s`` [s], ``mean_dn`` [DN], ``mean_se_dn``, ``var_dn2`` [DN^2],
    ``var_se_dn2`` per dark exposure; ``dark_current_map_e_per_s`` and ``offset_map_dn``: the
    raw per-pixel fits (with their noise, sd ``*_map_noise_*``).
    """

    KIND = "dark_current"
    UNITS = {
        "exposure_s": "s",
        "mean_dn": "DN",
        "mean_se_dn": "DN",
        "var_dn2": "DN^2",
        "var_se_dn2": "DN^2",
        "dark_current_map_e_per_s": "e-/s",
        "offset_map_dn": "DN",
        "dark_current_map_noise_e_per_s": "e-/s",
        "offset_map_noise_dn": "DN",
    }

    exposure_s: np.ndarray
    mean_dn: np.ndarray
    mean_se_dn: np.ndarray
    var_dn2: np.ndarray
    var_se_dn2: np.ndarray
    n_frames: int
    offset_dn: Measured
    dark_var_zero_dn2: Measured
    dark_current_e_per_s: Measured
    dark_current_var_e_per_s: Measured
    read_noise_e: Measured
    dark_current_sd_e_per_s: Measured
    offset_sd_dn: Measured
    dark_current_map_e_per_s: np.ndarray
    offset_map_dn: np.ndarray
    dark_current_map_noise_e_per_s: float
    offset_map_noise_dn: float

    def dark_signal_e(self, exposure_s: float) -> Measured:
        """Mean dark signal mu_I t [e-]."""
        return Measured(self.dark_current_e_per_s.value * exposure_s, self.dark_current_e_per_s.uncertainty * exposure_s, "e-")


def _spatial_var(x: np.ndarray) -> tuple[float, float]:
    """Sample variance (ddof 1) and its standard error from the data's fourth moment."""
    d2 = (x - x.mean()) ** 2
    return float(x.var(ddof=1)), float(d2.std(ddof=1) / math.sqrt(x.size))


def _sd_from_var(v: float, v_se: float, unit: str) -> Measured:
    if v > 0:
        s = math.sqrt(v)
        return Measured(s, v_se / (2 * s), unit)
    return Measured(0.0, math.sqrt(max(v_se, 0.0)), unit)


def analyze_dark_current(series: DarkSeries, stacks, exposure_s, system_gain_dn_per_e: Measured, *, quantized: bool = True) -> DarkCurrentResult:
    """Dark current and non-uniformities from a :class:`DarkSeries` and its stacks (see the module docstring).

    Parameters
    ----------
    series : DarkSeries
        From :func:`dark_series` (>= 2 distinct exposures).
    stacks : sequence of arrays (L_j, pixels...)
        The dark stacks, in the order of ``exposure_s``.
    exposure_s : array
        Their exposures [s].
    system_gain_dn_per_e : Measured
        K from the photon transfer [DN/e-].
    quantized : bool
        Integer frames: sigma_q^2 = 1/12 DN^2 is removed from the dark variance at zero exposure.
    """
    if series.mean_fit is None:
        raise CalibrationError("the dark current needs dark frames at >= 2 different exposures")
    k = system_gain_dn_per_e
    kv, k_rel = k.value, k.relative_uncertainty()
    t_in = np.asarray(exposure_s, dtype=np.float64).ravel()
    order = np.argsort(t_in, kind="stable")
    t = t_in[order]
    a_m, b_m, cov_m = series.mean_fit
    a_v, b_v, cov_v = series.var_fit

    def per_e(slope: float, slope_se: float, power: int) -> Measured:
        """slope / K^power [e-/s], with the uncertainty of the slope and of K."""
        v = slope / kv**power
        return Measured(v, math.hypot(slope_se / kv**power, abs(v) * power * k_rel), "e-/s")

    i_mean = per_e(b_m, math.sqrt(cov_m[1, 1]), 1)
    i_var = per_e(b_v, math.sqrt(cov_v[1, 1]), 2)
    var_q = 1.0 / 12.0 if quantized else 0.0
    vd0 = Measured(a_v, math.sqrt(cov_v[0, 0]), "DN^2")
    r_dn = math.sqrt(max(a_v - var_q, 0.0))
    r_se = vd0.uncertainty / (2 * r_dn) if r_dn > 0 else math.sqrt(vd0.uncertainty)
    read = Measured(r_dn / kv, (r_dn / kv) * math.hypot(r_se / r_dn if r_dn > 0 else 1.0, k_rel), "e-")

    # per-pixel fits with the same weights for every pixel
    var_t = np.array([max(s.var_dn2, 1e-12) for s in series.levels])
    n_t = np.array([s.n_frames for s in series.levels], dtype=np.float64)
    w = n_t / var_t
    tw = float((w * t).sum() / w.sum())
    stt = float((w * (t - tw) ** 2).sum())
    means = np.stack([np.asarray(stacks[j], dtype=np.float64).reshape(np.shape(stacks[j])[0], -1).mean(axis=0) for j in order])
    mbar = (w[:, None] * means).sum(axis=0) / w.sum()
    slope = ((w * (t - tw))[:, None] * means).sum(axis=0) / stt
    icpt = mbar - slope * tw
    noise_b = 1.0 / stt
    noise_a = 1.0 / w.sum() + tw * tw / stt
    vb, vb_se = _spatial_var(slope)
    va, va_se = _spatial_var(icpt)
    sd_b = _sd_from_var(vb - noise_b, vb_se, "DN/s")
    dc_sd = Measured(sd_b.value / kv, math.hypot(sd_b.uncertainty / kv, sd_b.value / kv * k_rel), "e-/s")
    off_sd = _sd_from_var(va - noise_a, va_se, "DN")
    log.info("dark current: %s (mean method), %s (variance method), sd %s, offset sd %s, read noise %s", i_mean, i_var, dc_sd, off_sd, read)
    return DarkCurrentResult(
        exposure_s=t,
        mean_dn=np.array([s.mean_dn for s in series.levels]),
        mean_se_dn=np.array([s.mean_se_dn for s in series.levels]),
        var_dn2=np.array([s.var_dn2 for s in series.levels]),
        var_se_dn2=np.array([s.var_se_dn2 for s in series.levels]),
        n_frames=int(n_t.min()),
        offset_dn=Measured(a_m, math.sqrt(cov_m[0, 0]), "DN"),
        dark_var_zero_dn2=vd0,
        dark_current_e_per_s=i_mean,
        dark_current_var_e_per_s=i_var,
        read_noise_e=read,
        dark_current_sd_e_per_s=dc_sd,
        offset_sd_dn=off_sd,
        dark_current_map_e_per_s=slope / kv,
        offset_map_dn=icpt - float(icpt.mean()),
        dark_current_map_noise_e_per_s=math.sqrt(noise_b) / kv,
        offset_map_noise_dn=math.sqrt(noise_a),
    )
