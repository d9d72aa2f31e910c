"""EMVA 1288 Release 4.0 (linear sensors) on 2-D images: one analysis for simulated devices and
for frames recorded on real cameras.

An :class:`EMVASeries` holds what the standard measures (2-D frames, their exposures and
photons): illumination levels (a series in exposure time at constant irradiance, or in
irradiance at constant exposure; at least one pair of frames each), dark frames at the
exposure(s) of the series (at several exposures for the dark current), and optionally a dark
and a bright stack of L frames at ~50 % of saturation for the spatial non-uniformity.
:func:`analyze_emva1288` runs, on any such series,

* :func:`~photonics.calibration.dark_current.dark_series` /
  :func:`~photonics.calibration.dark_current.analyze_dark_current`: dark level and dark
  variance against exposure -> dark current (mean and variance methods), offset, read noise,
  dark-current and offset non-uniformities;
* :func:`~photonics.calibration.photon_transfer.analyze_levels`: photon transfer (K),
  sensitivity (R, eta), temporal dark noise, saturation (variance maximum) and clip level,
  linearity, SNR, absolute sensitivity threshold, dynamic range;
* :func:`~photonics.calibration.maps.analyze_fixed_pattern`: DSNU / PRNU with the row /
  column / pixel split, spectrograms and defect-pixel histograms,

and returns an :class:`EMVA1288Result`. Where the series come from is the only difference
between the two paths: :func:`acquire_emva1288` drives a simulated device (flat fields with
:meth:`photonics.OPU.expose`, dark frames with :meth:`photonics.OPU.dark_frames`), the readers of
:mod:`photonics.calibration.recorded_frames` load a lab's files.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..errors import CalibrationError, ShapeError, ValidationError
from ..units import photon_energy_j
from ..validation import check_int, check_real
from .dark_current import DarkCurrentResult, analyze_dark_current, dark_series
from .maps import FixedPatternMaps, analyze_fixed_pattern
from .photon_transfer import PhotonTransferResult, analyze_levels, find_saturation_power, level_statistics
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = [
    "EMVASeries",
    "EMVA1288Result",
    "analyze_emva1288",
    "acquire_emva1288",
    "measure_emva1288",
    "measure_photon_transfer",
    "emva_quantities",
    "SERIES_MODES",
]

#: How the illumination varies along the series.
SERIES_MODES = ("irradiance", "exposure")


def _array(v, name: str, ndim: int) -> np.ndarray:
    a = np.asarray(v)
    if a.ndim != ndim:
        raise ShapeError(f"{name} must have {ndim} dimensions (got shape {a.shape})")
    if a.dtype.kind not in "uif":
        raise ValidationError(f"{name} must hold numbers (got dtype {a.dtype})")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValidationError(f"{name} contains NaN or infinite values")
    return a


def _vector(v, name: str, n: int, *, positive: bool = True) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).ravel()
    if a.size != n:
        raise ShapeError(f"{name} must have {n} entries (got {a.size})")
    if not np.all(np.isfinite(a)) or (positive and np.any(a <= 0)):
        raise ValidationError(f"{name} must be finite{' and > 0' if positive else ''} (got {a.min():g} .. {a.max():g})")
    return a


@dataclass(frozen=True)
class EMVASeries:
    """The frames of one EMVA 1288 measurement, with what the lab knows about them.

    Parameters
    ----------
    bright_frames : array (n_levels, n_frames >= 2, rows, cols)
        Frames at each illumination level [DN] (integer codes or floats); consecutive frames
        are paired.
    bright_exposure_s : array (n_levels,)
        Exposure of each level [s].
    dark_frames : array (n_dark, n_dark_frames >= 2, rows, cols)
        Dark frames (light blocked), one stack per dark exposure [DN].
    dark_exposure_s : array (n_dark,)
        Their exposures [s]. Every bright exposure needs a dark stack at it, unless there are
        >= 2 dark exposures to interpolate from.
    photons : array (n_levels,), optional
        Mean photons per pixel of each level (mu_p); needed for eta, mu_p.sat, mu_p.min.
    illumination : array (n_levels,), optional
        Any quantity proportional to the photons (irradiance x exposure, power x exposure);
        default ``photons``, else ``power_w`` x exposure, else the exposure (a series in
        exposure time at constant irradiance).
    power_w : array (n_levels,), optional
        Optical power per pixel of each level [W] (simulated devices).
    spatial_bright, spatial_dark : array (L, rows, cols), optional
        Stacks for the spatial non-uniformity (bright at ~50 % of saturation).
    spatial_exposure_s : float, optional
        Exposure of the spatial stacks [s].
    spatial_photons, spatial_power_w : float, optional
        Photons per pixel / power per pixel of the bright spatial stack.
    bit_depth : int, optional
        ADC bits (pixels at 2**bits - 1 count as saturated).
    wavelength_m : float, optional
        Wavelength of the light [m].
    pixel_pitch_m : float, optional
        Pixel pitch [m] (areas in the datasheet).
    black_level_dn : float, optional
        The camera's black-level register [DN], when known.
    source : str
        Where the frames come from (device name, file).
    """

    bright_frames: np.ndarray
    bright_exposure_s: np.ndarray
    dark_frames: np.ndarray
    dark_exposure_s: np.ndarray
    photons: np.ndarray | None = None
    illumination: np.ndarray | None = None
    power_w: np.ndarray | None = None
    spatial_bright: np.ndarray | None = None
    spatial_dark: np.ndarray | None = None
    spatial_exposure_s: float | None = None
    spatial_photons: float | None = None
    spatial_power_w: float | None = None
    bit_depth: int | None = None
    wavelength_m: float | None = None
    pixel_pitch_m: float | None = None
    black_level_dn: float | None = None
    source: str = ""

    def __post_init__(self):
        b = _array(self.bright_frames, "bright_frames", 4)
        d = _array(self.dark_frames, "dark_frames", 4)
        n_levels = b.shape[0]
        if n_levels < 3:
            raise CalibrationError(f"too few illumination levels: a photon transfer curve needs at least 3 (got {n_levels})")
        if b.shape[1] < 2 or d.shape[1] < 2:
            raise CalibrationError(
                f"too few frames: the difference method needs at least 2 frames (one pair) per level and per dark exposure "
                f"(got {b.shape[1]} and {d.shape[1]})"
            )
        if d.shape[2:] != b.shape[2:]:
            raise ShapeError(f"mixed image shapes: bright frames are {b.shape[2:]} pixels, dark frames {d.shape[2:]}")
        if b.shape[2] * b.shape[3] < 16:
            raise CalibrationError(f"too few pixels for spatial averaging: need at least 16 (got {b.shape[2] * b.shape[3]})")
        object.__setattr__(self, "bright_frames", b)
        object.__setattr__(self, "dark_frames", d)
        object.__setattr__(self, "bright_exposure_s", _vector(self.bright_exposure_s, "bright_exposure_s", n_levels))
        object.__setattr__(self, "dark_exposure_s", _vector(self.dark_exposure_s, "dark_exposure_s", d.shape[0]))
        for name in ("photons", "illumination", "power_w"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _vector(getattr(self, name), name, n_levels))
        if self.illumination is None:
            if self.photons is not None:
                ill = self.photons
            elif self.power_w is not None:
                ill = self.power_w * self.bright_exposure_s
            elif np.ptp(self.bright_exposure_s) > 0:
                ill = self.bright_exposure_s.copy()
            else:
                raise ValidationError(
                    "an irradiance series needs the illumination of each level: photons per pixel, irradiance or power "
                    "(the exposure is the same for every level)"
                )
            object.__setattr__(self, "illumination", ill)
        for name in ("spatial_bright", "spatial_dark"):
            v = getattr(self, name)
            if v is not None:
                a = _array(v, name, 3)
                if a.shape[1:] != b.shape[2:]:
                    raise ShapeError(f"mixed image shapes: {name} frames are {a.shape[1:]} pixels, the series {b.shape[2:]}")
                object.__setattr__(self, name, a)
        if (self.spatial_bright is None) != (self.spatial_dark is None):
            raise ValidationError("the spatial non-uniformity needs both a bright and a dark stack (or neither)")
        if self.spatial_bright is not None and self.spatial_exposure_s is None:
            raise ValidationError("spatial_exposure_s is required with the spatial stacks")
        if self.bit_depth is not None:
            check_int(self.bit_depth, "bit_depth", low=1, high=32, error=ValidationError)
            top = 2**int(self.bit_depth) - 1
            if b.dtype.kind in "iu" and (int(b.max()) > top or int(d.max()) > top):
                raise ValidationError(f"frames hold values above 2**bit_depth - 1 = {top} DN (bit_depth {self.bit_depth})")
        if self.wavelength_m is not None:
            check_real(self.wavelength_m, "wavelength_m", low=200e-9, high=20e-6, unit="m", error=ValidationError)

    @property
    def image_shape(self) -> tuple[int, int]:
        return (int(self.bright_frames.shape[2]), int(self.bright_frames.shape[3]))

    @property
    def n_levels(self) -> int:
        return int(self.bright_frames.shape[0])

    @property
    def mode(self) -> str:
        """``"exposure"`` when the exposure varies along the series, else ``"irradiance"``."""
        t = self.bright_exposure_s
        return "exposure" if np.ptp(t) > 1e-9 * t.max() else "irradiance"

    @property
    def max_dn(self) -> float | None:
        return float(2**int(self.bit_depth) - 1) if self.bit_depth is not None else None

    @property
    def quantized(self) -> bool:
        """Integer ADC codes (the 1/12 DN^2 of rounding applies)."""
        f = self.dark_frames
        return f.dtype.kind in "iu" or bool(np.all(f[0, :2] == np.round(f[0, :2])))


@dataclass(frozen=True)
class EMVA1288Result(CalibrationResult):
    """The full EMVA 1288 characterisation of a camera (see the module docstring)."""

    KIND = "emva1288"
    UNITS = {"wavelength_m": "m", "pixel_pitch_m": "m"}

    source: str
    mode: str
    image_rows: int
    image_cols: int
    bit_depth: int
    wavelength_m: float
    pixel_pitch_m: float
    photon_transfer: PhotonTransferResult
    dark_current: DarkCurrentResult | None = None
    fixed_pattern: FixedPatternMaps | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        return (int(self.image_rows), int(self.image_cols))


def analyze_emva1288(series: EMVASeries, *, fit_fraction: float = 0.7, progress: bool = False) -> EMVA1288Result:
    """Run the whole EMVA 1288 analysis on a series (see the module docstring).

    Raises
    ------
    CalibrationError
        Saturated (clipped) dark frames, too few levels or frames, no dark frames at an
        exposure of the series, no photon transfer.
    """
    if not isinstance(series, EMVASeries):
        raise ValidationError(f"series must be an EMVASeries (got {type(series).__name__})")
    max_dn = series.max_dn
    ds = dark_series(series.dark_exposure_s, list(series.dark_frames), max_dn)
    n = series.n_levels
    stats = [level_statistics(series.bright_frames[j], max_dn, f"level {j}")
             for j in tqdm(range(n), desc="EMVA 1288", unit="level", disable=not progress, leave=False)]
    darks = [ds.at(t) for t in series.bright_exposure_s]
    has_series = ds.mean_fit is not None
    vd0 = Measured(ds.var_fit[0], math.sqrt(ds.var_fit[2][0, 0]), "DN^2") if has_series else None
    slope = Measured(ds.mean_fit[1], math.sqrt(ds.mean_fit[2][1, 1]), "DN/s") if has_series else None
    ptc = analyze_levels(
        mean_dn=[s.mean_dn for s in stats],
        mean_se_dn=[s.mean_se_dn for s in stats],
        var_dn2=[s.var_dn2 for s in stats],
        var_se_dn2=[s.var_se_dn2 for s in stats],
        n_samples=[s.n_samples for s in stats],
        saturated_fraction=[s.saturated_fraction for s in stats],
        dark_mean_dn=[d[0] for d in darks],
        dark_mean_se_dn=[d[1] for d in darks],
        dark_var_dn2=[d[2] for d in darks],
        dark_var_se_dn2=[d[3] for d in darks],
        illumination=series.illumination,
        level_exposure_s=series.bright_exposure_s,
        dark_var_zero_dn2=vd0,
        dark_slope_dn_per_s=slope,
        photons=series.photons,
        power_w=series.power_w,
        quantized=series.quantized,
        frames_per_level=int(series.bright_frames.shape[1]),
        n_dark_frames=int(series.dark_frames.shape[1]),
        n_pixels=int(series.image_shape[0] * series.image_shape[1]),
        black_level_dn=series.black_level_dn,
        fit_fraction=fit_fraction,
    )
    k = ptc.system_gain_dn_per_e
    dc = analyze_dark_current(ds, list(series.dark_frames), series.dark_exposure_s, k, quantized=series.quantized) if has_series else None
    fp = None
    if series.spatial_bright is not None:
        fp = analyze_fixed_pattern(
            series.spatial_bright,
            series.spatial_dark,
            exposure_s=float(series.spatial_exposure_s),
            flat_power_w=math.nan if series.spatial_power_w is None else float(series.spatial_power_w),
            system_gain_dn_per_e=k,
            flat_photons=series.spatial_photons,
        )
    return EMVA1288Result(
        source=str(series.source),
        mode=series.mode,
        image_rows=series.image_shape[0],
        image_cols=series.image_shape[1],
        bit_depth=int(series.bit_depth) if series.bit_depth is not None else -1,
        wavelength_m=float(series.wavelength_m) if series.wavelength_m is not None else math.nan,
        pixel_pitch_m=float(series.pixel_pitch_m) if series.pixel_pitch_m is not None else math.nan,
        photon_transfer=ptc,
        dark_current=dc,
        fixed_pattern=fp,
    )


# ----------------------------------------------------------------------------------------------
# acquisition on a simulated device
# ----------------------------------------------------------------------------------------------
def _default_frames(n_pixels: int, samples: int, low: int, high: int) -> int:
    return int(min(high, max(low, 2 * math.ceil(samples / (2 * n_pixels)))))


def acquire_emva1288(
    opu,
    *,
    mode: str = "irradiance",
    n_levels: int = 100,
    frames_per_level: int | None = None,
    n_dark_exposures: int = 8,
    dark_frames_per_exposure: int | None = None,
    spatial_frames: int | None = None,
    spatial: bool = True,
    exposure_s: float | None = None,
    top: float = 1.15,
    plateau=(1.5, 2.0, 3.0),
    wavelength_m: float | None = None,
    photon_counts: bool = True,
    black_level_dn: float | None = None,
    progress: bool = False,
) -> EMVASeries:
    """Take an EMVA 1288 series on a device as a lab would (flat fields, dark frames, exposures).

    The lab knows the exposures it sets, the power of its calibrated flat field, the bit depth,
    the wavelength and (optionally) its black-level register; nothing else of the camera.

    Parameters
    ----------
    opu : photonics.OPU
        The device (only :meth:`~photonics.OPU.expose` and :meth:`~photonics.OPU.dark_frames`).
    mode : str
        ``"irradiance"``: ``n_levels`` powers evenly spaced up to ``top`` x the saturation
        power at a fixed exposure, plus levels at ``plateau`` x the saturation power (they show
        the clip level). ``"exposure"``: ``n_levels`` exposures evenly spaced up to the frame
        period at a fixed power that saturates at 1 / ``top`` of it.
    n_levels : int
        Levels of the series (EMVA: >= 50; >= 3). The default 100 resolves the variance
        maximum (the saturation point) to ~1 % of the saturation signal.
    frames_per_level : int, optional
        Frames per level (even, >= 2); default ~16,000 pixel-pairs per level (2..128 frames).
    n_dark_exposures : int
        Exposures of the dark series (irradiance mode; the exposure series has a dark stack at
        every level), evenly spaced up to the frame period, plus the series' exposure.
    dark_frames_per_exposure : int, optional
        Frames per dark exposure (irradiance mode); default ~128k pixel-frames.
    spatial_frames : int, optional
        L of the spatial stacks; default ~256k pixel-frames (16..256).
    spatial : bool
        Take the spatial stacks (dark and ~50 % of saturation).
    exposure_s : float, optional
        Exposure of the irradiance series [s]; default the configured one.
    wavelength_m : float, optional
        Wavelength the lab reports [m]; default the laser's.
    photon_counts : bool
        Give the photons per pixel of each level (the calibrated flat field); False: only
        relative illumination (no QE, no mu_p).
    black_level_dn : float, optional
        The black-level register, if the lab wants it used.
    """
    mode = str(mode)
    if mode not in SERIES_MODES:
        raise ValidationError(f"mode must be one of {', '.join(SERIES_MODES)} (got {mode!r})")
    n_levels = check_int(n_levels, "n_levels", low=3, high=10_000, error=ValidationError)
    n_out = opu.n_out
    fpl = _default_frames(n_out, 32768, 2, 128) if frames_per_level is None else check_int(
        frames_per_level, "frames_per_level", low=2, high=1 << 16, error=ValidationError)
    fpl -= fpl % 2
    dfe = _default_frames(n_out, 131072, 4, 256) if dark_frames_per_exposure is None else check_int(
        dark_frames_per_exposure, "dark_frames_per_exposure", low=2, high=1 << 16, error=ValidationError)
    lsp = _default_frames(n_out, 262144, 16, 256) if spatial_frames is None else check_int(
        spatial_frames, "spatial_frames", low=2, high=1 << 16, error=ValidationError)
    cfg = opu.config
    cam = cfg.camera
    t_max = 1.0 / cam.frame_rate_hz
    shape = tuple(cfg.medium.image_shape)
    wl = float(cfg.laser.wavelength_m) if wavelength_m is None else float(wavelength_m)
    e_ph = photon_energy_j(wl) if photon_counts else None

    def flat(p: float, n: int, t: float) -> np.ndarray:
        return opu.expose(np.full((n, n_out), p, dtype=np.float64), exposure_s=t).reshape((n,) + shape)

    def dark(n: int, t: float) -> np.ndarray:
        return opu.dark_frames(n, t).reshape((n,) + shape)

    bar = tqdm(total=n_levels, desc=f"EMVA 1288 ({mode} series)", unit="level", disable=not progress, leave=False)
    if mode == "irradiance":
        t = opu.camera.check_exposure(exposure_s)
        p_sat, p_max = find_saturation_power(opu, t)
        if p_sat is None:
            log.warning("EMVA 1288: the output did not saturate up to %.3g W per pixel; no saturation capacity", p_max)
            powers = np.linspace(p_max / n_levels, p_max, n_levels)
        else:
            powers = np.concatenate([np.linspace(top * p_sat / n_levels, top * p_sat, n_levels), np.asarray(plateau, dtype=float) * p_sat])
        bright = np.empty((powers.size, fpl) + shape, dtype=cam.output_dtype)
        for j, p in enumerate(powers):
            bright[j] = flat(float(p), fpl, t)
            bar.update(1)
        t_exp = np.full(powers.size, t)
        td = np.unique(np.concatenate([np.linspace(t_max / n_dark_exposures, t_max, n_dark_exposures), [t]]))
        darks = np.stack([dark(dfe, float(tj)) for tj in td])
        p_spatial = 0.5 * (p_sat if p_sat is not None else p_max)
        t_spatial = t
    else:
        if exposure_s is not None:
            raise ValidationError("exposure_s is for the irradiance series; the exposure series spans the frame period")
        p_sat, p_max = find_saturation_power(opu, t_max)
        if p_sat is None:
            raise CalibrationError(f"the camera did not saturate up to {p_max:.3g} W per pixel at the longest exposure {t_max:g} s")
        p = top * p_sat  # saturates at t_max / top
        t_exp = np.linspace(t_max / n_levels, t_max, n_levels)
        powers = np.full(n_levels, p)
        bright = np.empty((n_levels, fpl) + shape, dtype=cam.output_dtype)
        darks = np.empty((n_levels, fpl) + shape, dtype=cam.output_dtype)
        for j, tj in enumerate(t_exp):
            bright[j] = flat(p, fpl, float(tj))
            darks[j] = dark(fpl, float(tj))
            bar.update(1)
        td = t_exp
        p_spatial = p
        t_spatial = float(opu.camera.check_exposure(0.5 * t_max / top))
    bar.close()
    sb = sd = None
    if spatial:
        sd = dark(lsp, t_spatial)
        sb = flat(float(p_spatial), lsp, t_spatial)
    photons = powers * t_exp / e_ph if e_ph is not None else None
    return EMVASeries(
        bright_frames=bright,
        bright_exposure_s=t_exp,
        dark_frames=darks,
        dark_exposure_s=td,
        photons=photons,
        illumination=None if photons is not None else powers * t_exp,
        power_w=powers,
        spatial_bright=sb,
        spatial_dark=sd,
        spatial_exposure_s=t_spatial if spatial else None,
        spatial_photons=(p_spatial * t_spatial / e_ph) if (spatial and e_ph is not None) else None,
        spatial_power_w=float(p_spatial) if spatial else None,
        bit_depth=int(cam.bit_depth) if cam.quantize else None,
        wavelength_m=wl if photon_counts else None,
        pixel_pitch_m=float(cam.pixel_pitch_m),
        black_level_dn=black_level_dn,
        source=f"simulated device {cfg.name!r} (seed {opu.seed})",
    )


def measure_emva1288(opu, *, progress: bool = False, **kwargs) -> EMVA1288Result:
    """:func:`acquire_emva1288` then :func:`analyze_emva1288` (keyword arguments: those of the acquisition)."""
    return analyze_emva1288(acquire_emva1288(opu, progress=progress, **kwargs))


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
    """Photon transfer of a device's camera at one exposure (an irradiance series, no spatial stacks).

    A thin user of :func:`measure_emva1288`: levels evenly spaced in power up to 1.15 x the
    saturation power plus levels at 1.5, 2 and 3 x (the clip level), and a dark series (the
    read noise and the dark current). See :func:`acquire_emva1288` for the parameters;
    ``wavelength_m`` None gives no photon counts and no QE.
    """
    res = measure_emva1288(
        opu,
        mode="irradiance",
        n_levels=n_levels,
        frames_per_level=frames_per_level,
        dark_frames_per_exposure=n_dark_frames,
        exposure_s=exposure_s,
        spatial=False,
        wavelength_m=wavelength_m,
        photon_counts=wavelength_m is not None,
        black_level_dn=black_level_dn,
        progress=progress,
    )
    return res.photon_transfer


# ----------------------------------------------------------------------------------------------
# the quantities of a datasheet
# ----------------------------------------------------------------------------------------------
def emva_quantities(result: EMVA1288Result) -> dict[str, tuple[Measured, str]]:
    """The EMVA 1288 figures of a result: name -> (Measured, description), in datasheet order."""
    out: dict[str, tuple[Measured, str]] = {}

    def put(name, m, desc):
        if m is not None:
            out[name] = (m, desc)

    p = result.photon_transfer
    put("quantum_efficiency", p.quantum_efficiency, "quantum efficiency eta = R / K")
    put("responsivity_dn_per_photon", p.responsivity_dn_per_photon, "responsivity R (slope of mu_y - mu_y.dark vs mu_p)")
    put("system_gain_dn_per_e", p.system_gain_dn_per_e, "overall system gain K (photon transfer)")
    put("temporal_dark_noise_e", p.temporal_dark_noise_e,
        "temporal dark noise sigma_d" + (" at zero exposure" if p.dark_noise_exposure_s == 0 else f" at {p.dark_noise_exposure_s:.4g} s"))
    put("read_noise_e", p.read_noise_e, "read noise: sigma_d at zero exposure (dark exposure series)")
    put("read_noise_dn", p.read_noise_dn, "read noise in DN")
    put("saturation_capacity_e", p.saturation_capacity_e, "saturation capacity mu_e.sat (EMVA: maximum of the temporal variance)")
    put("saturation_capacity_photons", p.saturation_capacity_photons, "saturation irradiation mu_p.sat")
    put("clip_saturation_capacity_e", p.clip_saturation_capacity_e, "clip level: plateau of the mean far beyond saturation (full well or ADC top)")
    put("absolute_sensitivity_threshold_e", p.absolute_sensitivity_threshold_e, "absolute sensitivity threshold mu_e.min (SNR = 1)")
    put("absolute_sensitivity_threshold_photons", p.absolute_sensitivity_threshold_photons, "absolute sensitivity threshold mu_p.min")
    put("snr_max", p.snr_max, "maximum SNR sqrt(mu_e.sat)")
    put("snr_max_db", p.snr_max_db, "maximum SNR in dB")
    put("dynamic_range_db", p.dynamic_range_db, "dynamic range 20 log10(mu_e.sat / mu_e.min)")
    put("dynamic_range_bits", p.dynamic_range_bits, "dynamic range log2(mu_e.sat / mu_e.min)")
    put("linearity_error_pct", p.linearity_error_pct, "linearity error LE (5-95 % of saturation)")
    put("dark_signal_e", p.dark_signal_e, f"mean dark signal at {p.exposure_s:.4g} s")
    d = result.dark_current
    if d is not None:
        put("dark_current_e_per_s", d.dark_current_e_per_s, "dark current (mean method: slope of mu_y.dark vs exposure)")
        put("dark_current_var_e_per_s", d.dark_current_var_e_per_s, "dark current (variance method: slope of sigma_y.dark^2 vs exposure)")
        put("dark_current_sd_e_per_s", d.dark_current_sd_e_per_s, "dark-current non-uniformity (sd of the per-pixel dark current)")
        put("offset_sd_dn", d.offset_sd_dn, "offset non-uniformity (sd of the per-pixel offset at zero exposure)")
        put("dark_offset_dn", d.offset_dn, "dark level at zero exposure (offset)")
    m = result.fixed_pattern
    if m is not None:
        if m.dsnu_e is not None:
            put("dsnu_e", m.dsnu_e, f"DSNU (total) at {m.exposure_s:.4g} s")
            put("dsnu_col_e", m.dsnu_col_e, "DSNU, column part")
            put("dsnu_row_e", m.dsnu_row_e, "DSNU, row part")
            put("dsnu_pixel_e", m.dsnu_pixel_e, "DSNU, pixel part")
        put("dsnu_dn", m.dsnu_dn, "DSNU in DN")
        put("prnu", m.prnu, "PRNU (total, relative)")
        put("prnu_col", m.prnu_col, "PRNU, column part")
        put("prnu_row", m.prnu_row, "PRNU, row part")
        put("prnu_pixel", m.prnu_pixel, "PRNU, pixel part")
    return out
