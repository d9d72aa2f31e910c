"""Dark and flat maps: DSNU and PRNU (EMVA 1288 spatial non-uniformity) and their correction.

L dark frames and L flat-field frames at ~50 % of saturation are averaged per pixel:

    D_i = <y_dark,i>,     F_i = <y_flat,i>                                    [DN]

The spatial variances of those averages still hold 1/L of the temporal variance, which is
removed (EMVA 1288 release 4):

    s_dark^2 = var_i(D_i) - sigma_y.dark^2 / L
    s_flat^2 = var_i(F_i) - sigma_y.flat^2 / L
    DSNU     = sqrt(s_dark^2) / K                                              [e-]
    PRNU     = sqrt(s_flat^2 - s_dark^2) / (<F> - <D>)                          [1]

with sigma_y^2 the temporal variances from frame pairs and K the system gain from the photon
transfer curve (DSNU in DN when K is not given). The per-pixel maps are
``dark_map_dn = D`` and ``prnu_map = (F - D) / <F - D> - 1``; a later frame y is corrected by

    y_corr = (y - D) / (1 + prnu_map)                                            [DN above dark]

which removes the fixed patterns up to the maps' own temporal noise (~ sigma_y / sqrt(L)).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError, ShapeError, ValidationError
from ..validation import as_float_array, check_int, check_real
from .photon_transfer import PhotonTransferResult, find_saturation_power, pair_temporal_variance
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = ["FixedPatternMaps", "measure_fixed_pattern", "analyze_fixed_pattern", "spatial_nonuniformity"]


@dataclass(frozen=True)
class FixedPatternMaps(CalibrationResult):
    """Per-pixel dark and gain maps with their EMVA 1288 summary numbers."""

    KIND = "fixed_pattern"
    UNITS = {
        "exposure_s": "s",
        "flat_power_w": "W",
        "dark_map_dn": "DN",
        "flat_map_dn": "DN",
        "prnu_map": "1 (relative gain - 1)",
        "dsnu_map_e": "e-",
    }

    exposure_s: float
    n_frames: int
    flat_power_w: float
    dark_map_dn: np.ndarray
    flat_map_dn: np.ndarray
    prnu_map: np.ndarray
    dsnu_dn: Measured
    prnu: Measured
    flat_signal_dn: Measured
    dark_temporal_var_dn2: Measured
    flat_temporal_var_dn2: Measured
    dsnu_e: Measured | None = None
    dsnu_map_e: np.ndarray | None = None

    def correct(self, frames) -> np.ndarray:
        """Dark- and flat-field-correct frames (..., n_pixels): (y - D) / (1 + prnu_map) [DN], float32."""
        y = as_float_array(frames, "frames", dtype=np.float64)
        if y.ndim == 0 or y.shape[-1] != self.dark_map_dn.shape[0]:
            raise ShapeError(f"frames must have last axis of length n_pixels={self.dark_map_dn.shape[0]} (got shape {y.shape})")
        return ((y - self.dark_map_dn) / (1.0 + self.prnu_map)).astype(np.float32)


def spatial_nonuniformity(frames, dark_frames) -> tuple[Measured, Measured]:
    """EMVA-style residual relative non-uniformity of flat frames after dark subtraction.

    Returns (PRNU-like relative spatial std of the signal [1], mean signal [DN]), with the
    temporal noise of the averages removed. Used to check a correction.
    """
    f = as_float_array(frames, "frames", dtype=np.float64)
    d = as_float_array(dark_frames, "dark_frames", dtype=np.float64)
    r = _analyze(f, d)
    return r["prnu"], r["flat_signal"]


def _analyze(flat: np.ndarray, dark: np.ndarray) -> dict:
    if flat.ndim != 2 or dark.ndim != 2:
        raise ShapeError(f"flat and dark frames must be (n_frames, n_pixels) (got {flat.shape} and {dark.shape})")
    if flat.shape[1] != dark.shape[1]:
        raise ShapeError(f"flat frames have {flat.shape[1]} pixels but dark frames have {dark.shape[1]}")
    if flat.shape[0] < 2 or dark.shape[0] < 2:
        raise CalibrationError(
            f"too few frames: the temporal variance needs at least 2 flat and 2 dark frames (got {flat.shape[0]} and {dark.shape[0]})"
        )
    n_pix = flat.shape[1]
    if n_pix < 16:
        raise CalibrationError(f"too few pixels for spatial statistics: need at least 16 (got {n_pix})")
    lf, ld = flat.shape[0], dark.shape[0]
    dmap = dark.mean(axis=0)
    fmap = flat.mean(axis=0)
    vd, vd_se, _ = pair_temporal_variance(dark)
    vf, vf_se, _ = pair_temporal_variance(flat)
    s2d_raw = float(dmap.var(ddof=1))
    s2f_raw = float(fmap.var(ddof=1))
    s2d = s2d_raw - vd / ld
    s2f = s2f_raw - vf / lf
    # standard errors: sampling of a spatial variance over n_pix pixels (Gaussian approximation)
    s2d_se = math.hypot(s2d_raw * math.sqrt(2.0 / (n_pix - 1)), vd_se / ld)
    s2f_se = math.hypot(s2f_raw * math.sqrt(2.0 / (n_pix - 1)), vf_se / lf)
    sig = float(fmap.mean() - dmap.mean())
    sig_se = math.sqrt(vf / flat.size + vd / dark.size)
    if sig <= 0:
        raise CalibrationError(f"the flat field is not brighter than the dark level (signal {sig:.3g} DN); raise the flat-field power")
    dsnu_dn_v = math.sqrt(max(s2d, 0.0))
    dsnu_dn = Measured(dsnu_dn_v, s2d_se / (2 * dsnu_dn_v) if dsnu_dn_v > 0 else math.sqrt(s2d_se), "DN")
    num = max(s2f - s2d, 0.0)
    prnu_v = math.sqrt(num) / sig
    num_se = math.hypot(s2f_se, s2d_se)
    prnu_se = (num_se / (2 * math.sqrt(num)) / sig if num > 0 else math.sqrt(num_se) / sig)
    prnu = Measured(prnu_v, math.hypot(prnu_se, prnu_v * sig_se / sig), "1")
    return {
        "dmap": dmap,
        "fmap": fmap,
        "dsnu_dn": dsnu_dn,
        "prnu": prnu,
        "flat_signal": Measured(sig, sig_se, "DN"),
        "vd": Measured(vd, vd_se, "DN^2"),
        "vf": Measured(vf, vf_se, "DN^2"),
    }


def analyze_fixed_pattern(
    flat_frames,
    dark_frames,
    *,
    exposure_s: float,
    flat_power_w: float,
    system_gain_dn_per_e: float | Measured | None = None,
) -> FixedPatternMaps:
    """Dark/flat maps and DSNU/PRNU from frame stacks (no device access; see module docstring).

    Parameters
    ----------
    flat_frames : array (L, n_pixels)
        Flat-field frames at one power (~50 % of saturation) [DN].
    dark_frames : array (L_dark, n_pixels)
        Dark frames at the same exposure [DN].
    exposure_s, flat_power_w : float
        Exposure [s] and flat-field power per pixel [W] (recorded with the maps).
    system_gain_dn_per_e : float or Measured, optional
        K from the photon transfer curve, to express DSNU in electrons.
    """
    f = as_float_array(flat_frames, "flat_frames", dtype=np.float64)
    d = as_float_array(dark_frames, "dark_frames", dtype=np.float64)
    r = _analyze(f, d)
    sig = r["flat_signal"].value
    prnu_map = (r["fmap"] - r["dmap"]) / sig - 1.0
    dsnu_e = None
    dsnu_map_e = None
    if system_gain_dn_per_e is not None:
        k = system_gain_dn_per_e if isinstance(system_gain_dn_per_e, Measured) else Measured(float(system_gain_dn_per_e), 0.0, "DN/e-")
        if not k.value > 0:
            raise ValidationError(f"system_gain_dn_per_e must be > 0 DN/e- (got {k.value:g})")
        v = r["dsnu_dn"].value / k.value
        dsnu_e = Measured(v, v * math.hypot(r["dsnu_dn"].relative_uncertainty(), k.relative_uncertainty()), "e-")
        dsnu_map_e = (r["dmap"] - r["dmap"].mean()) / k.value
    return FixedPatternMaps(
        exposure_s=check_real(exposure_s, "exposure_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError),
        n_frames=int(f.shape[0]),
        flat_power_w=check_real(flat_power_w, "flat_power_w", low=0.0, unit="W", error=ValidationError),
        dark_map_dn=r["dmap"],
        flat_map_dn=r["fmap"],
        prnu_map=prnu_map,
        dsnu_dn=r["dsnu_dn"],
        prnu=r["prnu"],
        flat_signal_dn=r["flat_signal"],
        dark_temporal_var_dn2=r["vd"],
        flat_temporal_var_dn2=r["vf"],
        dsnu_e=dsnu_e,
        dsnu_map_e=dsnu_map_e,
    )


def measure_fixed_pattern(
    opu,
    *,
    n_frames: int = 128,
    exposure_s: float | None = None,
    photon_transfer: PhotonTransferResult | None = None,
    flat_fill: float = 0.5,
) -> FixedPatternMaps:
    """Measure dark and flat maps of a device's camera.

    Parameters
    ----------
    opu : photonics.OPU
        The device (uses :meth:`~photonics.OPU.dark_frames` and :meth:`~photonics.OPU.expose`).
    n_frames : int
        Frames averaged for each map (>= 2); the maps' temporal noise falls as 1/sqrt(n_frames).
    exposure_s : float, optional
        Exposure [s]; default the photon-transfer exposure, else the configured one.
    photon_transfer : PhotonTransferResult, optional
        Gives K (DSNU in e-) and the power for the flat field; without it the saturation power
        is searched first.
    flat_fill : float
        Flat-field level as a fraction of the saturation signal (EMVA: 0.5).
    """
    n_frames = check_int(n_frames, "n_frames", low=2, high=1 << 16, error=ValidationError)
    flat_fill = check_real(flat_fill, "flat_fill", low=0.0, high=0.95, low_inclusive=False, error=ValidationError)
    if exposure_s is None and photon_transfer is not None:
        exposure_s = photon_transfer.exposure_s
    exposure_s = opu.camera.check_exposure(exposure_s)
    dark = opu.dark_frames(n_frames, exposure_s)
    power = None
    k = None
    if photon_transfer is not None:
        k = photon_transfer.system_gain_dn_per_e
        if photon_transfer.saturation_dn is not None and photon_transfer.exposure_s == exposure_s:
            fit = photon_transfer.used_in_fit
            slope = np.sum(photon_transfer.power_w[fit] * (photon_transfer.mean_dn[fit] - photon_transfer.dark_mean_dn.value)) / np.sum(
                photon_transfer.power_w[fit] ** 2
            )
            power = flat_fill * (photon_transfer.saturation_dn.value - photon_transfer.dark_mean_dn.value) / slope
    if power is None:
        p_sat, p_max = find_saturation_power(opu, exposure_s, dark_frames=dark[: min(8, n_frames)])
        power = flat_fill * (p_sat if p_sat is not None else p_max)
    flat = opu.expose(np.full((n_frames, opu.n_out), power, dtype=np.float64), exposure_s=exposure_s)
    maps = analyze_fixed_pattern(flat, dark, exposure_s=exposure_s, flat_power_w=float(power), system_gain_dn_per_e=k)
    log.info("fixed pattern: DSNU %s, PRNU %s at %.3g W per pixel", maps.dsnu_dn, maps.prnu, power)
    return maps
