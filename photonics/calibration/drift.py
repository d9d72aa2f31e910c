"""Drift: decorrelation time of the medium from repeated probe frames, and when to recalibrate.

A few random binary probe frames are recorded twice at a reference time t0 and again after
waiting a device time t (:meth:`photonics.OPU.wait`). For a field that decorrelates as
gamma(t) = exp(-t / tau) (circular Gaussian speckle, e.g. :class:`~photonics.medium.DriftingMedium`)
the intensity correlation is |gamma|^2 (Siegert relation), and camera noise lowers every
correlation by the same factor, measured by the repeat at t0, rho_0 = corr(I_a(t0), I_b(t0)):

    g(t) = corr(I(t0), I(t0 + t)) / rho_0 = exp(-2 t / tau)

The measurement brackets the time scale first (waits doubling from 1 ms until g < 0.3 or
``max_time_s``), then samples g on an even grid from a fresh reference out to ~1.5x that time,
and fits tau by weighted least squares on g (standard error of a correlation over n_eff
independent pixels: (1 - rho^2) / sqrt(n_eff - 3)). The points share the reference frames
and the medium's random path, so their errors correlate: the uncertainty of tau is the
larger of the fit's and a jackknife over 8 blocks of pixels (independent TM rows). When g never falls measurably below 1
the result is a lower bound: tau >= 2 t_max / -ln(1 - 3 se).

Recalibration rule: a calibration made at t_c (TM rows, reference levels) describes
T(t_c); at t_c + dt the TM has moved by ||T(t) - T(t_c)|| / ||T|| = sqrt(2 (1 - gamma(dt))).
Keeping that below a tolerance eps means recalibrating every

    dt_max = -tau ln(1 - eps^2 / 2)                                   [s of device time]

(the linear projection B ~ Re(conj(u) T) depends on two drifting fields, correlation
gamma^2, so its interval is half of that).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError, ValidationError
from ..rng import generator
from ..validation import check_int, check_real
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = ["DriftResult", "measure_drift", "recalibration_interval", "fit_decorrelation", "drift_truth"]


def recalibration_interval(decorrelation_time_s: float, tolerance: float, *, linear: bool = False) -> float:
    """Longest device time between calibrations keeping the TM change below ``tolerance``.

    dt_max = -tau ln(1 - eps^2 / 2) [s]; half of it for linear projections (``linear=True``).
    An infinite tau gives an infinite interval.
    """
    tol = check_real(tolerance, "tolerance", low=0.0, high=math.sqrt(2.0), low_inclusive=False, high_inclusive=False, error=ValidationError)
    tau = float(decorrelation_time_s)
    if not tau > 0:
        raise ValidationError(f"decorrelation_time_s must be > 0 s (got {decorrelation_time_s!r})")
    if math.isinf(tau):
        return math.inf
    dt = -tau * math.log1p(-tol * tol / 2.0)
    return dt / 2.0 if linear else dt


@dataclass(frozen=True)
class DriftResult(CalibrationResult):
    """Speckle decorrelation over device time and the resulting recalibration rule."""

    KIND = "drift"
    UNITS = {
        "times_s": "s",
        "correlation": "1",
        "correlation_se": "1",
        "bracket_times_s": "s",
        "bracket_correlation": "1",
        "recalibration_interval_s": "s",
        "linear_recalibration_interval_s": "s",
        "exposure_s": "s",
    }

    exposure_s: float
    n_probes: int
    repeat_correlation: float
    times_s: np.ndarray
    correlation: np.ndarray
    correlation_se: np.ndarray
    bracket_times_s: np.ndarray
    bracket_correlation: np.ndarray
    decorrelation_time_s: Measured
    tolerance: float
    recalibration_interval_s: float
    linear_recalibration_interval_s: float
    recalibration_interval_frames: float
    chi2_reduced: float

    def recalibration_due(self, last_calibration_s: float, now_s: float, *, linear: bool = False) -> bool:
        """True when more device time than the interval has passed since the last calibration."""
        interval = self.linear_recalibration_interval_s if linear else self.recalibration_interval_s
        return (float(now_s) - float(last_calibration_s)) >= interval


def fit_decorrelation(times_s, g, se) -> tuple[float, float, float]:
    """Weighted least-squares fit of g = exp(-2 t / tau); returns (tau, se_tau, chi2_red).

    Points with g <= 0.02 carry little information and are dropped. The standard error is
    scaled by sqrt(chi2_red) when the scatter exceeds the stated errors.
    """
    from scipy.optimize import curve_fit

    t = np.asarray(times_s, dtype=np.float64)
    y = np.asarray(g, dtype=np.float64)
    s = np.maximum(np.asarray(se, dtype=np.float64), 1e-6)
    keep = (y > 0.02) & (t > 0)
    if keep.sum() < 2:
        raise CalibrationError(f"too few drift points above the noise to fit a decorrelation time ({int(keep.sum())})")
    t, y, s = t[keep], y[keep], s[keep]
    # start from a log-linear estimate
    k0 = max(float(np.sum(t * -np.log(np.clip(y, 1e-6, 1.0))) / np.sum(t * t)), 1e-12)
    popt, pcov = curve_fit(lambda tt, k: np.exp(-k * tt), t, y, p0=[k0], sigma=s, absolute_sigma=True, maxfev=10_000)
    k = float(popt[0])
    resid = (y - np.exp(-k * t)) / s
    dof = max(1, t.size - 1)
    chi2 = float(np.sum(resid**2) / dof)
    k_se = float(math.sqrt(pcov[0, 0]) * math.sqrt(max(1.0, chi2)))
    if not k > 0:
        raise CalibrationError(f"the fitted decay rate is not positive ({k:.3g} 1/s)")
    tau = 2.0 / k
    return tau, tau * k_se / k, chi2


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return float(np.sum(a * b) / math.sqrt(np.sum(a * a) * np.sum(b * b)))


def measure_drift(
    opu,
    *,
    n_probes: int = 4,
    n_points: int = 16,
    start_s: float = 1e-3,
    max_time_s: float = 1e4,
    tolerance: float = 0.1,
    exposure_s: float | None = None,
    n_dark_frames: int = 16,
    correlation_area_px: float = 1.0,
    seed: int = 0,
) -> DriftResult:
    """Measure the decorrelation time of a device's medium and derive a recalibration rule.

    Parameters
    ----------
    opu : photonics.OPU
        The device (uses :meth:`~photonics.OPU.acquire`, :meth:`~photonics.OPU.wait`,
        :meth:`~photonics.OPU.dark_frames`). Device time advances by up to ~2.5x
        ``max_time_s``.
    n_probes : int
        Random binary probe frames (pixels x probes are pooled in each correlation).
    n_points : int
        Points of the evenly spaced second pass (>= 4).
    start_s, max_time_s : float
        First wait and longest total wait of the bracketing pass [s].
    tolerance : float
        Tolerated relative change of the TM between calibrations (recalibration rule).
    exposure_s : float, optional
        Exposure [s].
    correlation_area_px : float
        Pixels per speckle grain (from :func:`~photonics.calibration.characterize_speckle`),
        for the effective number of independent samples.
    seed : int
        Seed of the probes (stream "calibration", "drift").
    """
    n_probes = check_int(n_probes, "n_probes", low=1, high=1 << 16, error=ValidationError)
    n_points = check_int(n_points, "n_points", low=4, high=10_000, error=ValidationError)
    start_s = check_real(start_s, "start_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError)
    max_time_s = check_real(max_time_s, "max_time_s", low=start_s, unit="s", error=ValidationError)
    tolerance = check_real(tolerance, "tolerance", low=0.0, high=1.0, low_inclusive=False, error=ValidationError)
    area = check_real(correlation_area_px, "correlation_area_px", low=1.0, error=ValidationError)
    exposure_s = opu.camera.check_exposure(exposure_s)
    rng = generator(seed, "calibration", "drift")
    probes = (rng.random((n_probes, opu.n_in)) < 0.5).astype(np.uint8)
    dark = opu.dark_frames(n_dark_frames, exposure_s).astype(np.float64).mean(axis=0)
    n_eff = n_probes * opu.n_out / area

    def shot() -> np.ndarray:
        return opu.acquire(probes, exposure_s=exposure_s).astype(np.float64) - dark

    def reference() -> tuple[np.ndarray, np.ndarray, float, float]:
        a, b = shot(), shot()
        return a, b, _corr(a, b), opu.device_time_s

    def g_of(a, b, rho0, img) -> float:
        return 0.5 * (_corr(a, img) + _corr(b, img)) / rho0

    # pass 1: bracket the time scale with doubling waits
    a, b, rho0, t0 = reference()
    if not rho0 > 0.05:
        raise CalibrationError(f"repeated probe frames do not correlate (rho = {rho0:.3g}): no signal above the camera noise")
    bt, bg = [], []
    wait = start_s
    while True:
        opu.wait(wait)
        t = opu.device_time_s - t0
        g = g_of(a, b, rho0, shot())
        bt.append(t)
        bg.append(g)
        if g < 0.3 or t >= max_time_s:
            break
        wait = min(t, max_time_s - t) if t < max_time_s else t  # doubles the elapsed time
        wait = max(wait, start_s)
    t_scale = bt[-1]
    decorrelated = bg[-1] < 0.3

    # pass 2: even sampling from a fresh reference
    a, b, rho0, t0 = reference()
    t_end = 1.5 * t_scale if decorrelated else t_scale
    step = t_end / n_points
    ts, imgs = [], []
    for _ in range(n_points):
        opu.wait(max(step - n_probes * opu.config.frame_period_s, 0.0))
        ts.append(opu.device_time_s - t0)
        imgs.append(shot())
    ts = np.asarray(ts)
    gs = np.asarray([g_of(a, b, rho0, im) for im in imgs])
    rho_raw = np.clip(gs * rho0, -0.999, 0.999)
    se_rho = (1.0 - rho_raw**2) / math.sqrt(max(n_eff - 3.0, 1.0))
    se_rho0 = (1.0 - rho0**2) / math.sqrt(max(n_eff - 3.0, 1.0))
    se = np.sqrt((se_rho / rho0) ** 2 + (gs * se_rho0 / rho0) ** 2)

    chi2 = float("nan")
    if decorrelated or np.min(gs) < 1.0 - 5.0 * float(np.median(se)):
        tau, tau_se, chi2 = fit_decorrelation(ts, gs, se)
        # the points share the reference frames and the medium's path: jackknife over pixel blocks
        blocks = np.array_split(np.arange(opu.n_out), min(8, opu.n_out))
        taus = []
        for blk in blocks:
            keep = np.ones(opu.n_out, dtype=bool)
            keep[blk] = False
            ak, bk = a[:, keep], b[:, keep]
            r0 = _corr(ak, bk)
            gk = np.asarray([g_of(ak, bk, r0, im[:, keep]) for im in imgs])
            try:
                taus.append(fit_decorrelation(ts, gk, se)[0])
            except CalibrationError:
                pass
        if len(taus) >= 2:
            nb = len(taus)
            jk = math.sqrt((nb - 1) / nb * float(np.sum((np.asarray(taus) - np.mean(taus)) ** 2)))
            tau_se = max(tau_se, jk)
        tau_m = Measured(tau, tau_se, "s")
    else:
        g_floor = max(1.0 - 3.0 * float(np.median(se)), 1e-6)
        tau_lb = 2.0 * float(ts[-1]) / -math.log(g_floor)
        tau_m = Measured(tau_lb, 0.0, "s", lower_bound=True)
    interval = recalibration_interval(tau_m.value, tolerance)
    interval_lin = recalibration_interval(tau_m.value, tolerance, linear=True)
    log.info("drift: tau %s, recalibrate every %.4g s (tolerance %g)", tau_m, interval, tolerance)
    return DriftResult(
        exposure_s=float(exposure_s),
        n_probes=n_probes,
        repeat_correlation=float(rho0),
        times_s=ts,
        correlation=gs,
        correlation_se=se,
        bracket_times_s=np.asarray(bt),
        bracket_correlation=np.asarray(bg),
        decorrelation_time_s=tau_m,
        tolerance=float(tolerance),
        recalibration_interval_s=float(interval),
        linear_recalibration_interval_s=float(interval_lin),
        recalibration_interval_frames=float(interval * opu.config.frame_rate_hz),
        chi2_reduced=chi2,
    )


def drift_truth(opu) -> float:
    """Ground-truth decorrelation time of the device's medium [s] (inf for a static medium)."""
    tau = getattr(opu.medium, "tau_s", None)
    return float(tau) if tau is not None else math.inf
