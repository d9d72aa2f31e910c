"""Exposure selection: fill a target fraction of the ADC range with few saturated pixels.

For random binary inputs with a fraction ``density`` of ON mirrors the camera sees speckle:
per-pixel intensities spread (exponentially for fully developed speckle) around their mean.
Below saturation the signal above dark scales linearly with the exposure t, s(t) = s(t0) t / t0,
so from frames at a probe exposure t0 the lab predicts, for any t,

    fill(t)      = <s(t0)> t / t0 / (y_max - <D>)                  (mean ADC fill)
    f_sat(t)     = P[ s(t0) t / t0 >= y_max - <D> - 1/2 ]          (saturated fraction)

with y_max the top ADC code (known from the bit depth) and <D> the dark level. The chosen
exposure is the largest t <= 1 / frame_rate with fill(t) <= target_fill and
f_sat(t) <= max_saturated_fraction (the saturated-fraction constraint uses the empirical
upper quantile of s). The choice is refined once from frames taken at it (finer
quantisation), then verified on fresh random inputs.
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

__all__ = ["ExposureChoice", "choose_exposure", "exposure_from_signal"]


@dataclass(frozen=True)
class ExposureChoice(CalibrationResult):
    """The chosen exposure and what was measured at it."""

    KIND = "exposure"
    UNITS = {"exposure_s": "s", "max_exposure_s": "s", "probe_exposure_s": "s", "dark_level_dn": "DN", "adc_range_dn": "DN"}

    exposure_s: float
    limited_by: str
    density: float
    target_fill: float
    max_saturated_fraction: float
    max_exposure_s: float
    probe_exposure_s: float
    dark_level_dn: float
    adc_range_dn: float
    n_frames: int
    fill: Measured
    saturated_fraction: Measured
    predicted_fill: float
    predicted_saturated_fraction: float


def exposure_from_signal(
    signal_dn,
    probe_exposure_s: float,
    adc_range_dn: float,
    *,
    target_fill: float,
    max_saturated_fraction: float,
    max_exposure_s: float,
) -> tuple[float, str]:
    """Exposure meeting both constraints from a signal sample at ``probe_exposure_s``.

    Parameters
    ----------
    signal_dn : array
        Signal above dark of many pixels and frames at the probe exposure [DN].
    probe_exposure_s, max_exposure_s : float
        Probe and largest allowed exposure [s].
    adc_range_dn : float
        Top ADC code minus the dark level [DN].

    Returns
    -------
    (exposure_s, limited_by) with limited_by one of "fill", "saturation", "max_exposure".
    """
    s = np.asarray(signal_dn, dtype=np.float64).ravel()
    mean = float(s.mean())
    if not mean > 0:
        raise CalibrationError(f"no signal above the dark level at the probe exposure {probe_exposure_s:g} s (mean {mean:.3g} DN)")
    t_fill = target_fill * adc_range_dn * probe_exposure_s / mean
    q = float(np.quantile(s, 1.0 - max_saturated_fraction)) if max_saturated_fraction > 0 else float(s.max())
    t_sat = (adc_range_dn - 0.5) * probe_exposure_s / q if q > 0 else math.inf
    choices = {"fill": t_fill, "saturation": t_sat, "max_exposure": max_exposure_s}
    limited_by = min(choices, key=choices.get)
    return float(choices[limited_by]), limited_by


def choose_exposure(
    opu,
    *,
    density: float = 0.5,
    target_fill: float = 0.5,
    max_saturated_fraction: float = 1e-3,
    n_frames: int = 32,
    seed: int = 0,
) -> ExposureChoice:
    """Choose the exposure for random binary inputs of a given density.

    Parameters
    ----------
    opu : photonics.OPU
        The device (uses :meth:`~photonics.OPU.acquire` and :meth:`~photonics.OPU.dark_frames`).
    density : float
        Fraction of ON input mirrors, in (0, 1].
    target_fill : float
        Wanted mean signal as a fraction of the ADC range above dark, in (0, 1).
    max_saturated_fraction : float
        Largest tolerated fraction of saturated pixels, in [0, 1).
    n_frames : int
        Random input frames per measurement (>= 4); the saturated fraction is resolved to
        about 1 / (n_frames n_out).
    seed : int
        Seed of the random inputs (stream "calibration", "exposure").

    Raises
    ------
    CalibrationError
        When the camera is not quantised (no ADC top to fill) or there is no signal.
    """
    density = check_real(density, "density", low=0.0, high=1.0, low_inclusive=False, error=ValidationError)
    target_fill = check_real(target_fill, "target_fill", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False, error=ValidationError)
    max_saturated_fraction = check_real(max_saturated_fraction, "max_saturated_fraction", low=0.0, high=1.0, high_inclusive=False, error=ValidationError)
    n_frames = check_int(n_frames, "n_frames", low=4, high=1 << 16, error=ValidationError)
    cam = opu.config.camera
    if not cam.quantize:
        raise CalibrationError("the camera output is not digitised (quantize=false): there is no ADC range to fill")
    max_dn = float(cam.max_dn)
    t_max = 1.0 / cam.frame_rate_hz
    rng = generator(seed, "calibration", "exposure")

    def frames() -> np.ndarray:
        return (rng.random((n_frames, opu.n_in)) < density).astype(np.uint8)

    def measure(t: float):
        dark = opu.dark_frames(max(4, n_frames // 4), t).astype(np.float64).mean(axis=0)
        y = opu.acquire(frames(), exposure_s=t).astype(np.float64)
        return y, dark

    # probe: the configured exposure, shortened until almost nothing saturates
    t = cam.exposure_s
    for _ in range(40):
        y, dark = measure(t)
        if np.mean(y >= max_dn) <= 0.25 * max(max_saturated_fraction, 1.0 / y.size) or t < 1e-12:
            break
        t *= 0.25
    probe_t = t
    for _ in range(2):  # choose, then refine from frames at the choice
        adc_range = max_dn - float(dark.mean())
        sig = y - dark
        t_new, limited = exposure_from_signal(
            sig, t, adc_range, target_fill=target_fill, max_saturated_fraction=max_saturated_fraction, max_exposure_s=t_max
        )
        predicted_fill = float(sig.mean()) * t_new / t / adc_range
        predicted_sat = float(np.mean(sig * t_new / t >= adc_range - 0.5))
        if abs(t_new - t) <= 1e-3 * t:
            break
        t = t_new
        y, dark = measure(t)
    # verify on fresh inputs
    y, dark = measure(t)
    adc_range = max_dn - float(dark.mean())
    sig = y - dark
    fill = float(sig.mean()) / adc_range
    fill_se = float(sig.std() / math.sqrt(sig.size)) / adc_range
    f_sat = float(np.mean(y >= max_dn))
    f_sat_se = math.sqrt(max(f_sat * (1 - f_sat), 1.0 / y.size) / y.size)
    log.info("exposure: %.4g s (limited by %s), fill %.3g, saturated %.3g", t, limited, fill, f_sat)
    return ExposureChoice(
        exposure_s=float(t),
        limited_by=limited,
        density=density,
        target_fill=target_fill,
        max_saturated_fraction=max_saturated_fraction,
        max_exposure_s=t_max,
        probe_exposure_s=float(probe_t),
        dark_level_dn=float(dark.mean()),
        adc_range_dn=float(adc_range),
        n_frames=n_frames,
        fill=Measured(fill, fill_se, "1"),
        saturated_fraction=Measured(f_sat, f_sat_se, "1"),
        predicted_fill=predicted_fill,
        predicted_saturated_fraction=predicted_sat,
    )
