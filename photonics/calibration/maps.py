"""Spatial non-uniformity (EMVA 1288 Release 4.0): DSNU, PRNU, their row / column / pixel split,
spectrograms, defect-pixel histograms, and the per-pixel maps with their correction.

A dark stack and a flat stack (L frames each, M rows x N columns, the flat at ~50 % of
saturation, same exposure) are averaged per pixel, mu_y[m, n] = <y_l[m, n]>_l. The temporal
variance of the stack, sigma_y.stack^2 = < var_l(y_l[m, n]) >_{m,n}, leaves 1/L of itself in
the average image, which is removed from every spatial variance:

    s_y^2     = var_{m,n}(mu_y[m, n])   - sigma_y.stack^2 / L          (total)
    s_y.cav^2 = var_n(<mu_y[m, n]>_m)   - sigma_y.stack^2 / (L M)      (column averages)
    s_y.rav^2 = var_m(<mu_y[m, n]>_n)   - sigma_y.stack^2 / (L N)      (row averages)

For independent column (c_n), row (r_m) and pixel (p_mn) patterns, E s_y.cav^2 = s_col^2 +
s_pixel^2 / M, E s_y.rav^2 = s_row^2 + s_pixel^2 / N and (MN - 1) E s_y^2 = M (N - 1) s_col^2 +
N (M - 1) s_row^2 + (MN - 1) s_pixel^2; solving:

    s_pixel^2 = [(MN - 1) s_y^2 - M (N - 1) s_y.cav^2 - N (M - 1) s_y.rav^2] / ((M - 1)(N - 1))
    s_col^2   = s_y.cav^2 - s_pixel^2 / M,      s_row^2 = s_y.rav^2 - s_pixel^2 / N

(for large M, N this is the standard's s_pixel^2 = MN / (MN - M - N) (s_y^2 - s_y.cav^2 -
s_y.rav^2)). With K the system gain and mu_y - mu_y.dark the flat's mean signal::

    DSNU  = s_y.dark / K                                            [e-]  (DN without K)
    PRNU  = sqrt(s_y^2 - s_y.dark^2) / (mu_y - mu_y.dark)           [1]

and the same for each of the col / row / pixel parts. Standard errors: the data's fourth
moment for the total variance, the Gaussian sqrt(2 / (n - 1)) for the row and column
averages, propagated through the solve.

Spectrograms: the horizontal one averages, over the rows, the power spectrum of each row of
the mean-subtracted average image, P(k) = |FFT_n(row)|^2 / N (Parseval: the mean of P over k
is the variance); the vertical one does the same on the columns. They are reported as
sqrt(P) in DN (DSNU) or in % of the mean signal (PRNU, of mu_y - mu_y.dark), for spatial
frequencies 0..0.5 cycles/pixel, with the white level of the temporal noise left in the
average image, sqrt(sigma_y.stack^2 / L). A column pattern shows in the horizontal
spectrogram only, a row pattern in the vertical one, pixel noise in both.

Defect pixels: histograms (logarithmic counts) of the deviation of each pixel from the local
mean, the average image high-pass filtered with a 5 x 5 box (y - box5(y), which removes
shading and illumination gradients; the 2-pixel border is dropped), in e- (DN without K) for
the dark image and in % of the signal for the flat; the accumulated histograms give the
percentage of pixels whose |deviation| exceeds each value.

The per-pixel maps are ``dark_map_dn = D`` and ``prnu_map = (F - D) / <F - D> - 1``; a later
frame y is corrected by y_corr = (y - D) / (1 + prnu_map) [DN above dark], which removes the
fixed patterns up to the maps' own temporal noise (~ sigma_y / sqrt(L)).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..config import square_shape
from ..errors import CalibrationError, ShapeError, ValidationError
from ..validation import as_float_array, check_int, check_real
from .photon_transfer import PhotonTransferResult, find_saturation_power
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = [
    "FixedPatternMaps",
    "SpatialVariances",
    "measure_fixed_pattern",
    "analyze_fixed_pattern",
    "spatial_nonuniformity",
    "spatial_variances",
    "spectrogram",
    "highpass_deviation",
]

#: Bins of the defect-pixel histograms.
HISTOGRAM_BINS = 128


@dataclass(frozen=True)
class SpatialVariances:
    """Spatial variances of an average image, temporal noise removed [DN^2], with standard errors."""

    total: float
    total_se: float
    col: float
    col_se: float
    row: float
    row_se: float
    pixel: float
    pixel_se: float


def spatial_variances(mean_image: np.ndarray, stack_var_dn2: float, n_frames: int) -> SpatialVariances:
    """Total / column / row / pixel spatial variances of an (M, N) average image (see the module docstring)."""
    img = np.asarray(mean_image, dtype=np.float64)
    m, n = img.shape
    noise = float(stack_var_dn2) / int(n_frames)
    d2 = (img - img.mean()) ** 2
    a_raw = float(img.var(ddof=1))
    a = a_raw - noise
    a_se = float(d2.std(ddof=1) / math.sqrt(img.size))
    if m < 2 or n < 2:
        nan = math.nan
        return SpatialVariances(a, a_se, nan, nan, nan, nan, nan, nan)
    cav = img.mean(axis=0)
    rav = img.mean(axis=1)
    b_raw, c_raw = float(cav.var(ddof=1)), float(rav.var(ddof=1))
    b = b_raw - noise / m
    c = c_raw - noise / n
    b_se = b_raw * math.sqrt(2.0 / (n - 1))
    c_se = c_raw * math.sqrt(2.0 / (m - 1))
    den = (m - 1) * (n - 1)
    p = ((m * n - 1) * a - m * (n - 1) * b - n * (m - 1) * c) / den
    p_se = math.sqrt(((m * n - 1) * a_se) ** 2 + (m * (n - 1) * b_se) ** 2 + (n * (m - 1) * c_se) ** 2) / den
    return SpatialVariances(
        total=a, total_se=a_se,
        col=b - p / m, col_se=math.hypot(b_se, p_se / m),
        row=c - p / n, row_se=math.hypot(c_se, p_se / n),
        pixel=p, pixel_se=p_se,
    )


def spectrogram(image: np.ndarray, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Averaged power spectrum of the lines of a mean-subtracted image.

    ``axis=1``: the horizontal spectrogram (FFT along each row, averaged over the rows);
    ``axis=0``: the vertical one. Returns (frequencies [cycles/pixel], 0..0.5; sqrt(P(k)) in
    the image's unit), P(k) = |FFT(line)|^2 / length.
    """
    img = np.asarray(image, dtype=np.float64)
    img = img - img.mean()
    lines = img if axis == 1 else img.T
    n = lines.shape[1]
    p = (np.abs(np.fft.rfft(lines, axis=1)) ** 2 / n).mean(axis=0)
    return np.fft.rfftfreq(n), np.sqrt(p)


def highpass_deviation(image: np.ndarray, box: int = 5) -> np.ndarray:
    """y - box-mean(y) over a ``box`` x ``box`` window, border of box // 2 pixels dropped (flattened).

    Images smaller than the box in a direction keep that direction unfiltered.
    """
    from scipy.ndimage import uniform_filter

    img = np.asarray(image, dtype=np.float64)
    h = box // 2
    size = tuple(box if s > box else 1 for s in img.shape)
    hp = img - uniform_filter(img, size=size, mode="nearest")
    sl = tuple(slice(h, s - h) if s > box else slice(None) for s in img.shape)
    return hp[sl].ravel()


def _histograms(dev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bin edges, counts, accumulated thresholds, % of pixels with |dev| >= threshold)."""
    top = float(np.max(np.abs(dev))) if dev.size else 1.0
    top = top if top > 0 else 1.0
    edges = np.linspace(-top, top, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(dev, bins=edges)
    thresholds = np.linspace(0.0, top, HISTOGRAM_BINS)
    a = np.sort(np.abs(dev))
    pct = 100.0 * (a.size - np.searchsorted(a, thresholds, side="left")) / max(a.size, 1)
    return edges, counts.astype(np.int64), thresholds, pct


@dataclass(frozen=True)
class FixedPatternMaps(CalibrationResult):
    """Per-pixel dark and gain maps with the EMVA 1288 spatial non-uniformity figures.

    Scalars: ``dsnu_dn``, ``prnu`` (totals) and their ``_col`` / ``_row`` / ``_pixel`` parts,
    ``dsnu_e`` (and parts) when the gain is known. Arrays: the maps (flattened, row-major
    ``image_rows`` x ``image_cols``), the spectrograms (``spectrogram_freq_h`` / ``_v``
    [cycles/pixel]; DSNU in DN, PRNU in %), the defect-pixel histograms (edges and counts;
    DSNU in ``dsnu_hist_unit``, PRNU in %) and accumulated histograms (% of pixels).
    """

    KIND = "fixed_pattern"
    UNITS = {
        "exposure_s": "s",
        "flat_power_w": "W",
        "flat_photons": "photons/pixel",
        "dark_map_dn": "DN",
        "flat_map_dn": "DN",
        "prnu_map": "1 (relative gain - 1)",
        "dsnu_map_e": "e-",
        "spectrogram_freq_h": "cycles/pixel",
        "spectrogram_freq_v": "cycles/pixel",
        "dsnu_spectrogram_h_dn": "DN",
        "dsnu_spectrogram_v_dn": "DN",
        "prnu_spectrogram_h_pct": "%",
        "prnu_spectrogram_v_pct": "%",
        "dsnu_spectrogram_noise_dn": "DN",
        "prnu_spectrogram_noise_pct": "%",
        "prnu_hist_edges_pct": "%",
        "prnu_accumulated_pct": "%",
        "dsnu_accumulated_pct": "%",
        "prnu_accumulated_x_pct": "%",
    }

    exposure_s: float
    n_frames: int
    n_dark_frames: int
    flat_power_w: float
    image_rows: int
    image_cols: int
    dark_map_dn: np.ndarray
    flat_map_dn: np.ndarray
    prnu_map: np.ndarray
    dsnu_dn: Measured
    dsnu_col_dn: Measured
    dsnu_row_dn: Measured
    dsnu_pixel_dn: Measured
    prnu: Measured
    prnu_col: Measured
    prnu_row: Measured
    prnu_pixel: Measured
    flat_signal_dn: Measured
    dark_temporal_var_dn2: Measured
    flat_temporal_var_dn2: Measured
    spectrogram_freq_h: np.ndarray
    spectrogram_freq_v: np.ndarray
    dsnu_spectrogram_h_dn: np.ndarray
    dsnu_spectrogram_v_dn: np.ndarray
    prnu_spectrogram_h_pct: np.ndarray
    prnu_spectrogram_v_pct: np.ndarray
    dsnu_spectrogram_noise_dn: float
    prnu_spectrogram_noise_pct: float
    dsnu_hist_unit: str
    dsnu_hist_edges: np.ndarray
    dsnu_hist_counts: np.ndarray
    dsnu_accumulated_x: np.ndarray
    dsnu_accumulated_pct: np.ndarray
    prnu_hist_edges_pct: np.ndarray
    prnu_hist_counts: np.ndarray
    prnu_accumulated_x_pct: np.ndarray
    prnu_accumulated_pct: np.ndarray
    flat_photons: float | None = None
    dsnu_e: Measured | None = None
    dsnu_col_e: Measured | None = None
    dsnu_row_e: Measured | None = None
    dsnu_pixel_e: Measured | None = None
    dsnu_map_e: np.ndarray | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        return (int(self.image_rows), int(self.image_cols))

    def correct(self, frames) -> np.ndarray:
        """Dark- and flat-field-correct frames (..., n_pixels): (y - D) / (1 + prnu_map) [DN], float32."""
        y = as_float_array(frames, "frames", dtype=np.float64)
        if y.ndim == 0 or y.shape[-1] != self.dark_map_dn.shape[0]:
            raise ShapeError(f"frames must have last axis of length n_pixels={self.dark_map_dn.shape[0]} (got shape {y.shape})")
        return ((y - self.dark_map_dn) / (1.0 + self.prnu_map)).astype(np.float32)


def _stack(frames, name: str, image_shape) -> tuple[np.ndarray, tuple[int, int]]:
    raw = np.asarray(frames)
    if raw.ndim == 3:
        shape = raw.shape[1:]
    elif raw.ndim == 2:
        shape = tuple(image_shape) if image_shape is not None else square_shape(raw.shape[1])
        if shape[0] * shape[1] != raw.shape[1]:
            raise ShapeError(f"{name}: image_shape {tuple(shape)} does not hold {raw.shape[1]} pixels")
    else:
        raise ShapeError(f"{name} must be (n_frames, n_pixels) or (n_frames, rows, cols) (got shape {raw.shape})")
    f = as_float_array(raw, name, dtype=np.float64).reshape((raw.shape[0],) + tuple(shape))
    return f, (int(shape[0]), int(shape[1]))


def _sd(v: float, v_se: float, unit: str, scale: float = 1.0) -> Measured:
    """sqrt(v) / scale with its standard error; 0 +/- sqrt(se) when v <= 0 (not resolved)."""
    if not math.isfinite(v):
        return Measured(math.nan, math.nan, unit)
    if v > 0:
        s = math.sqrt(v)
        return Measured(s / scale, v_se / (2 * s) / scale, unit)
    return Measured(0.0, math.sqrt(max(v_se, 0.0)) / scale, unit)


def _analyze(flat: np.ndarray, dark: np.ndarray) -> dict:
    """Spatial statistics of a flat and a dark stack, both (L, M, N) float64."""
    if flat.shape[1:] != dark.shape[1:]:
        raise ShapeError(f"flat frames are {flat.shape[1:]} pixels but dark frames are {dark.shape[1:]}")
    if flat.shape[0] < 2 or dark.shape[0] < 2:
        raise CalibrationError(
            f"too few frames: the temporal variance needs at least 2 flat and 2 dark frames (got {flat.shape[0]} and {dark.shape[0]})"
        )
    n_pix = flat.shape[1] * flat.shape[2]
    if n_pix < 16:
        raise CalibrationError(f"too few pixels for spatial statistics: need at least 16 (got {n_pix})")
    lf, ld = flat.shape[0], dark.shape[0]
    dmap, fmap = dark.mean(axis=0), flat.mean(axis=0)
    pv_d, pv_f = dark.var(axis=0, ddof=1), flat.var(axis=0, ddof=1)
    vd, vf = float(pv_d.mean()), float(pv_f.mean())
    vd_se, vf_se = float(pv_d.std(ddof=1) / math.sqrt(n_pix)), float(pv_f.std(ddof=1) / math.sqrt(n_pix))
    sig = float(fmap.mean() - dmap.mean())
    sig_se = math.sqrt(vf / flat[0].size / lf + vd / dark[0].size / ld)
    if sig <= 0:
        raise CalibrationError(f"the flat field is not brighter than the dark level (signal {sig:.3g} DN); raise the flat-field power")
    return {
        "dmap": dmap,
        "fmap": fmap,
        "dark": spatial_variances(dmap, vd, ld),
        "flat": spatial_variances(fmap, vf, lf),
        "signal": Measured(sig, sig_se, "DN"),
        "vd": Measured(vd, vd_se, "DN^2"),
        "vf": Measured(vf, vf_se, "DN^2"),
        "lf": lf,
        "ld": ld,
    }


def _prnu(fl: float, fl_se: float, dk: float, dk_se: float, sig: Measured) -> Measured:
    m = _sd(fl - dk, math.hypot(fl_se, dk_se), "1", sig.value)
    if m.value > 0:
        return Measured(m.value, math.hypot(m.uncertainty, m.value * sig.relative_uncertainty()), "1")
    return m


def spatial_nonuniformity(frames, dark_frames, image_shape=None) -> tuple[Measured, Measured]:
    """EMVA PRNU of flat frames after dark subtraction and the mean signal [DN], temporal noise removed.

    Used to check a correction. ``frames`` and ``dark_frames``: (L, n_pixels) or (L, rows, cols).
    """
    f, shape = _stack(frames, "frames", image_shape)
    d, _ = _stack(dark_frames, "dark_frames", shape)
    r = _analyze(f, d)
    return _prnu(r["flat"].total, r["flat"].total_se, r["dark"].total, r["dark"].total_se, r["signal"]), r["signal"]


def analyze_fixed_pattern(
    flat_frames,
    dark_frames,
    *,
    exposure_s: float,
    flat_power_w: float = math.nan,
    system_gain_dn_per_e: float | Measured | None = None,
    image_shape: tuple[int, int] | None = None,
    flat_photons: float | None = None,
) -> FixedPatternMaps:
    """EMVA 1288 spatial non-uniformity of a flat and a dark stack (see the module docstring).

    Parameters
    ----------
    flat_frames : array (L, rows, cols) or (L, n_pixels)
        Flat-field frames at one illumination (~50 % of saturation) [DN].
    dark_frames : array (L_dark, rows, cols) or (L_dark, n_pixels)
        Dark frames at the same exposure [DN].
    exposure_s : float
        Exposure [s] (recorded with the maps).
    flat_power_w : float
        Flat-field power per pixel [W] (simulated devices; NaN when unknown).
    system_gain_dn_per_e : float or Measured, optional
        K from the photon transfer, to express the DSNU in electrons.
    image_shape : (rows, cols), optional
        Layout of flat pixel vectors; default the most square factorisation.
    flat_photons : float, optional
        Mean photons per pixel of the flat field.
    """
    f, shape = _stack(flat_frames, "flat_frames", image_shape)
    d, _ = _stack(dark_frames, "dark_frames", shape)
    r = _analyze(f, d)
    sig = r["signal"]
    dk, fl = r["dark"], r["flat"]
    dsnu = {p: _sd(getattr(dk, p), getattr(dk, p + "_se"), "DN") for p in ("total", "col", "row", "pixel")}
    prnu = {p: _prnu(getattr(fl, p), getattr(fl, p + "_se"), getattr(dk, p), getattr(dk, p + "_se"), sig) for p in ("total", "col", "row", "pixel")}
    dmap, fmap = r["dmap"], r["fmap"]
    prnu_map = (fmap - dmap) / sig.value - 1.0
    k = None
    dsnu_e = {}
    dsnu_map_e = None
    if system_gain_dn_per_e is not None:
        k = system_gain_dn_per_e if isinstance(system_gain_dn_per_e, Measured) else Measured(float(system_gain_dn_per_e), 0.0, "DN/e-")
        if not k.value > 0:
            raise ValidationError(f"system_gain_dn_per_e must be > 0 DN/e- (got {k.value:g})")
        for p, m in dsnu.items():
            v = m.value / k.value
            u = math.hypot(m.uncertainty / k.value, v * k.relative_uncertainty())
            dsnu_e[p] = Measured(v, u, "e-")
        dsnu_map_e = ((dmap - dmap.mean()) / k.value).ravel()
    # spectrograms
    fh, dsh = spectrogram(dmap, axis=1)
    fv, dsv = spectrogram(dmap, axis=0)
    diff = fmap - dmap
    _, psh = spectrogram(100.0 * diff / sig.value, axis=1)
    _, psv = spectrogram(100.0 * diff / sig.value, axis=0)
    noise_d = math.sqrt(r["vd"].value / r["ld"])
    noise_p = 100.0 * math.sqrt(r["vf"].value / r["lf"] + r["vd"].value / r["ld"]) / sig.value
    # defect-pixel histograms on the high-pass filtered average images
    dev_d = highpass_deviation(dmap)
    unit = "DN"
    if k is not None:
        dev_d, unit = dev_d / k.value, "e-"
    d_edges, d_counts, d_x, d_pct = _histograms(dev_d)
    p_edges, p_counts, p_x, p_pct = _histograms(100.0 * highpass_deviation(diff) / sig.value)
    maps = FixedPatternMaps(
        exposure_s=check_real(exposure_s, "exposure_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError),
        n_frames=int(f.shape[0]),
        n_dark_frames=int(d.shape[0]),
        flat_power_w=float(flat_power_w),
        image_rows=shape[0],
        image_cols=shape[1],
        dark_map_dn=dmap.ravel(),
        flat_map_dn=fmap.ravel(),
        prnu_map=prnu_map.ravel(),
        dsnu_dn=dsnu["total"],
        dsnu_col_dn=dsnu["col"],
        dsnu_row_dn=dsnu["row"],
        dsnu_pixel_dn=dsnu["pixel"],
        prnu=prnu["total"],
        prnu_col=prnu["col"],
        prnu_row=prnu["row"],
        prnu_pixel=prnu["pixel"],
        flat_signal_dn=sig,
        dark_temporal_var_dn2=r["vd"],
        flat_temporal_var_dn2=r["vf"],
        spectrogram_freq_h=fh,
        spectrogram_freq_v=fv,
        dsnu_spectrogram_h_dn=dsh,
        dsnu_spectrogram_v_dn=dsv,
        prnu_spectrogram_h_pct=psh,
        prnu_spectrogram_v_pct=psv,
        dsnu_spectrogram_noise_dn=noise_d,
        prnu_spectrogram_noise_pct=noise_p,
        dsnu_hist_unit=unit,
        dsnu_hist_edges=d_edges,
        dsnu_hist_counts=d_counts,
        dsnu_accumulated_x=d_x,
        dsnu_accumulated_pct=d_pct,
        prnu_hist_edges_pct=p_edges,
        prnu_hist_counts=p_counts,
        prnu_accumulated_x_pct=p_x,
        prnu_accumulated_pct=p_pct,
        flat_photons=None if flat_photons is None else float(flat_photons),
        dsnu_e=dsnu_e.get("total"),
        dsnu_col_e=dsnu_e.get("col"),
        dsnu_row_e=dsnu_e.get("row"),
        dsnu_pixel_e=dsnu_e.get("pixel"),
        dsnu_map_e=dsnu_map_e,
    )
    log.info("fixed pattern: DSNU %s, PRNU %s (%d x %d pixels, L = %d / %d)", maps.dsnu_e or maps.dsnu_dn, maps.prnu, shape[0], shape[1],
             f.shape[0], d.shape[0])
    return maps


def measure_fixed_pattern(
    opu,
    *,
    n_frames: int = 128,
    exposure_s: float | None = None,
    photon_transfer: PhotonTransferResult | None = None,
    flat_fill: float = 0.5,
) -> FixedPatternMaps:
    """Measure dark and flat stacks of a device's camera and analyse them (:func:`analyze_fixed_pattern`).

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
        p = photon_transfer
        top = p.saturation_dn if p.saturation_dn is not None else p.clip_level_dn
        if top is not None and p.power_w is not None and p.mode == "irradiance" and p.exposure_s == exposure_s:
            fit = p.used_in_fit
            slope = np.sum(p.power_w[fit] * p.signal_dn[fit]) / np.sum(p.power_w[fit] ** 2)
            power = flat_fill * (top.value - p.dark_mean_dn.value) / slope
    if power is None:
        p_sat, p_max = find_saturation_power(opu, exposure_s, dark_frames=dark[: min(8, n_frames)])
        power = flat_fill * (p_sat if p_sat is not None else p_max)
    flat = opu.expose(np.full((n_frames, opu.n_out), power, dtype=np.float64), exposure_s=exposure_s)
    from ..units import photon_energy_j

    photons = power * exposure_s / photon_energy_j(opu.config.laser.wavelength_m)
    return analyze_fixed_pattern(flat, dark, exposure_s=exposure_s, flat_power_w=float(power), system_gain_dn_per_e=k,
                                 image_shape=opu.config.medium.image_shape, flat_photons=photons)
