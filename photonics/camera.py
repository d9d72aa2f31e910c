"""Camera model: optical power on each pixel -> digital numbers (DN).

For pixel i of a frame (the linear camera model of EMVA 1288 Release 4.0)::

    n_ph   = P_i * t_exp / (h c / lambda)                         photons              [1]
    mu_e   = eta * g_i * n_ph + I_i * t_exp                       mean electrons       [e-]
    e      = Poisson(mu_e)                                        shot noise           [e-]
    e      = min(e, full_well_e)                                  full well            [e-]
    e     += N(0, sigma_read^2)                                   read noise           [e-]
    DN     = clip(round(e / gain_e_per_dn + black_level_dn + o_i), 0, 2^bits - 1)

with three static pixel maps, drawn once from the device's static streams (or loaded from a
measured-maps file, :func:`read_pixel_maps`):

* g_i, the relative gain (photo-response non-uniformity): mean 1, standard deviation
  ``prnu``, gamma-distributed so that every gain is > 0 without clipping;
* I_i, the dark current [e-/s]: mean ``dark_current_e_per_s``, standard deviation
  ``dark_current_sd_e_per_s``, gamma-distributed so that I_i >= 0 without clipping. Its
  electrons are Poisson (dark shot noise) and scale with the exposure;
* o_i, the electronic offset [DN]: mean 0, standard deviation ``offset_sd_dn``, normal
  (either sign), added after the gain and independent of the exposure.

A gamma map of mean m and standard deviation s is the quantile transform of the counter-based
normal z_i of the pixel: G^-1(Phi(z_i); k = (m/s)^2, theta = s^2/m); map i therefore does not
depend on how many pixels are read. Away from saturation the EMVA quantities of this sensor
are exactly the configured ones:

    dark signal        mu_d(t)    = <I_i> t                                              [e-]
    temporal dark var  sigma_d^2  = sigma_read^2 + <I_i> t                              [e-^2]
    DSNU(t)            = sqrt(sd(I_i)^2 t^2 + sd(o_i)^2 gain_e_per_dn^2)                 [e-]
    PRNU               = sd(g_i)                                                         [1]
    photon transfer    var(DN) = K (mu_DN - mu_DN,dark) + K^2 sigma_d^2 + 1/12,  K = 1/gain_e_per_dn

The noise model lives here, once. :func:`reading_statistics` gives the mean and the variance of
a reading, stage by stage, for a camera configuration; :meth:`Camera.reading_statistics` the
same per pixel, with the device's own pixel maps. Every consumer that needs a variance (noise
budget, calibration truth, privacy accounting, photon budgets, sweeps) asks it, so a change of
the sensor model is made here and in the kernels, nowhere else.

The seam for compute backends is :meth:`Camera.kernel_parameters`: everything a read-out
kernel needs for one exposure, as a named structure (:class:`CameraKernelParameters`).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import kernels
from .config import CameraConfig
from .errors import FileFormatError, ShapeError, ValidationError
from .rng import stream_key
from .units import photon_energy_j
from .validation import as_float_array, check_int, check_real

log = logging.getLogger(__name__)

__all__ = [
    "Camera",
    "CameraTruth",
    "CameraKernelParameters",
    "ReadingStatistics",
    "reading_statistics",
    "PixelMaps",
    "gamma_map",
    "clipped_normal_moments",
    "read_pixel_maps",
    "write_pixel_maps",
    "PIXEL_MAPS_KIND",
]

#: HDF5 ``kind`` of a measured pixel-maps file.
PIXEL_MAPS_KIND = "photonics.pixel_maps"


@dataclass(frozen=True)
class ReadingStatistics:
    """Mean and variance of one pixel reading below saturation, stage by stage.

    For mean photo-electrons mu_s (signal) and mean dark electrons mu_d of a pixel::

        shot_var_e2         = mu_s + mu_d                 (Poisson; 0 without shot noise)   [e-^2]
        read_var_e2         = sigma_read^2                                                  [e-^2]
        quantization_var_e2 = gain_e_per_dn^2 / 12        (0 without the ADC)               [e-^2]
        temporal_var_e2     = shot_var_e2 + read_var_e2   (the physical noise of a reading)
        total_var_e2        = temporal_var_e2 + quantization_var_e2
        mean_dn             = (mu_s + mu_d) / gain_e_per_dn + offset_dn                     [DN]
        total_var_dn2       = total_var_e2 / gain_e_per_dn^2                                [DN^2]

    ``offset_dn`` is the electronic offset added after the gain: the black level, plus the
    pixel's offset o_i for :meth:`Camera.reading_statistics`. The offset and the pixel maps are
    static: they are not part of any variance here (a reading's temporal noise). Fields are
    floats or arrays (broadcast of the inputs). The quantization term is the variance of
    rounding a value spread over many DN (uniform error); it is exact on average over a signal
    range of one DN or more.
    """

    signal_e: object
    dark_e: object
    shot_var_e2: object
    read_var_e2: float
    quantization_var_e2: float
    gain_e_per_dn: float
    offset_dn: object

    @property
    def temporal_var_e2(self):
        """Shot (signal + dark) + read noise variance [e-^2]."""
        return self.shot_var_e2 + self.read_var_e2

    @property
    def total_var_e2(self):
        """Temporal + quantization variance [e-^2]."""
        return self.temporal_var_e2 + self.quantization_var_e2

    @property
    def total_noise_e(self):
        """sqrt(total_var_e2) [e-]."""
        return np.sqrt(self.total_var_e2)

    @property
    def mean_dn(self):
        """Mean reading [DN] (below saturation)."""
        return (self.signal_e + self.dark_e) / self.gain_e_per_dn + self.offset_dn

    @property
    def total_var_dn2(self):
        """Total variance of the reading [DN^2]."""
        return self.total_var_e2 / self.gain_e_per_dn**2

    @property
    def snr(self):
        """signal_e / total noise (inf for a noiseless reading of a positive signal)."""
        noise = self.total_noise_e
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(noise > 0, self.signal_e / np.where(noise > 0, noise, 1.0), np.inf * np.sign(self.signal_e))


def reading_statistics(
    camera: CameraConfig, signal_e, dark_e=None, *, exposure_s: float | None = None, offset_dn=None
) -> ReadingStatistics:
    """Mean and variance of a reading of ``camera`` for a mean of ``signal_e`` photo-electrons.

    Parameters
    ----------
    camera : CameraConfig
    signal_e : float or array
        Mean photo-electrons of the pixel [e-], >= 0.
    dark_e : float or array, optional
        Mean dark electrons [e-]; default the configured mean dark current x exposure (the
        mean over pixels; :meth:`Camera.reading_statistics` uses each pixel's own).
    exposure_s : float, optional
        Exposure for the default dark signal [s]; default the configured exposure.
    offset_dn : float or array, optional
        Offset added after the gain [DN]; default the black level (the mean over pixels).
    """
    if not isinstance(camera, CameraConfig):
        raise ValidationError(f"camera must be a CameraConfig (got {type(camera).__name__})")
    sig = np.asarray(signal_e, dtype=np.float64) if np.ndim(signal_e) else float(signal_e)
    if dark_e is None:
        t = camera.exposure_s if exposure_s is None else float(exposure_s)
        dark_e = camera.dark_current_e_per_s * t
    dark = np.asarray(dark_e, dtype=np.float64) if np.ndim(dark_e) else float(dark_e)
    if offset_dn is None:
        offset_dn = float(camera.black_level_dn)
    off = np.asarray(offset_dn, dtype=np.float64) if np.ndim(offset_dn) else float(offset_dn)
    return ReadingStatistics(
        signal_e=sig,
        dark_e=dark,
        shot_var_e2=(sig + dark) if camera.shot_noise else 0.0 * (sig + dark),
        read_var_e2=float(camera.read_noise_e) ** 2,
        quantization_var_e2=float(camera.gain_e_per_dn) ** 2 / 12.0 if camera.quantize else 0.0,
        gain_e_per_dn=float(camera.gain_e_per_dn),
        offset_dn=off,
    )


def clipped_normal_moments(mean, var, top):
    """Mean and variance of min(Z, top) for Z ~ N(mean, var) (arrays broadcast).

    With a = (top - mean) / s, s = sqrt(var), Phi and phi the standard normal cdf and pdf:
    E = mean Phi(a) - s phi(a) + top (1 - Phi(a)),
    E2 = (mean^2 + var) Phi(a) - s phi(a) (mean + top) + top^2 (1 - Phi(a)), Var = E2 - E^2.
    ``var == 0`` gives min(mean, top) and 0; ``top = inf`` gives (mean, var).
    """
    from scipy.special import ndtr

    m = np.asarray(mean, dtype=np.float64)
    v = np.maximum(np.asarray(var, dtype=np.float64), 0.0)
    c = np.asarray(top, dtype=np.float64)
    s = np.sqrt(v)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = np.where(s > 0, (c - m) / np.where(s > 0, s, 1.0), np.where(c >= m, np.inf, -np.inf))
        big_phi = ndtr(a)
        phi = np.where(np.isfinite(a), np.exp(-0.5 * np.where(np.isfinite(a), a, 0.0) ** 2) / math.sqrt(2 * math.pi), 0.0)
        cc = np.where(np.isfinite(c), c, 0.0)
        e1 = m * big_phi - s * phi + cc * (1 - big_phi)
        e2 = (m * m + v) * big_phi - s * phi * (m + cc) + cc * cc * (1 - big_phi)
    return e1, np.maximum(e2 - e1 * e1, 0.0)


@dataclass(frozen=True)
class CameraKernelParameters:
    """Everything a read-out kernel needs for one exposure (the seam for compute backends).

    The kernels of :mod:`photonics.kernels` (and their torch port) compute, for frame b
    (global index ``frame0 + b``) and pixel i::

        mean_e = power_w[b, i] * e_per_w[i] + dark_e[i]
        e      = Poisson(mean_e)           (stream key_shot)     if shot_noise
        e      = min(e, full_well_e)                             if clip_full_well
        e     += read_noise_e * N(0, 1)    (stream key_read)
        dn     = clip(round(e * dn_per_e + offset_dn[i]), 0, max_dn)   (round/clip if quantize)

    Attributes
    ----------
    e_per_w : ndarray (n_pixels,) float64
        Photo-electrons per watt of optical power (QE, relative gain, exposure, photon energy) [e-/W].
    dark_e : ndarray (n_pixels,) float64
        Mean dark electrons of the exposure, I_i t_exp [e-], >= 0.
    offset_dn : ndarray (n_pixels,) float64
        Electronic offset added after the gain, black level + o_i [DN].
    read_noise_e, full_well_e, dn_per_e, max_dn : float
        Read noise [e-], full well [e-], conversion 1/gain_e_per_dn [DN/e-], ADC top [DN].
    shot_noise, clip_full_well, quantize : bool
        Stage switches.
    key_shot, key_read : int
        Counter-based stream keys of the shot and read noise (:mod:`photonics.kernels`).
    output_dtype : numpy dtype
        dtype of the frames (uint8 / uint16 quantized, float32 otherwise).
    """

    e_per_w: np.ndarray
    dark_e: np.ndarray
    offset_dn: np.ndarray
    read_noise_e: float
    full_well_e: float
    dn_per_e: float
    max_dn: float
    shot_noise: bool
    clip_full_well: bool
    quantize: bool
    key_shot: int
    key_read: int
    output_dtype: object

    @property
    def noiseless(self) -> bool:
        """True when no random stage is on (the deterministic kernel applies)."""
        return not self.shot_noise and self.read_noise_e == 0

    def kernel_args(self, frame0: int) -> tuple:
        """Positional arguments after ``power_w`` of ``camera_numba`` / ``camera_numpy`` / ``camera_torch``."""
        return (self.e_per_w, self.dark_e, self.offset_dn, self.read_noise_e, self.full_well_e, self.dn_per_e, self.max_dn,
                self.shot_noise, self.clip_full_well, self.quantize, np.uint64(self.key_shot), np.uint64(self.key_read), int(frame0))

    def noiseless_args(self) -> tuple:
        """Positional arguments after ``power_w`` of ``camera_noiseless_numba``."""
        return (self.e_per_w, self.dark_e, self.offset_dn, self.full_well_e, self.dn_per_e, self.max_dn, self.clip_full_well, self.quantize)


@dataclass(frozen=True)
class CameraTruth:
    """Ground-truth camera parameters of a simulated device: exactly what is configured.

    The EMVA 1288 quantities that depend on the exposure are methods (``*_at(exposure_s)``);
    the plain attributes hold them at the configured exposure ``exposure_s``. The pixel maps
    of one device are one draw of the configured distributions: their realised statistics
    (:meth:`Camera.map_statistics`) scatter around these values by the sampling error.
    """

    exposure_s: float
    system_gain_dn_per_e: float
    read_noise_e: float
    read_noise_dn: float
    dark_current_e_per_s: float
    dark_current_sd_e_per_s: float
    offset_sd_dn: float
    dark_signal_e: float
    black_level_dn: float
    saturation_capacity_e: float
    full_well_e: float
    quantum_efficiency: float
    prnu: float
    dsnu_e: float
    temporal_dark_noise_e: float

    def dark_signal_e_at(self, exposure_s: float) -> float:
        """Mean dark electrons <I_i> t [e-]."""
        return self.dark_current_e_per_s * float(exposure_s)

    def dsnu_e_at(self, exposure_s: float) -> float:
        """EMVA DSNU, sqrt((sd(I) t)^2 + (sd(o) / K)^2) [e-]."""
        return math.hypot(self.dark_current_sd_e_per_s * float(exposure_s), self.offset_sd_dn / self.system_gain_dn_per_e)

    def temporal_dark_noise_e_at(self, exposure_s: float) -> float:
        """EMVA temporal dark noise sigma_d = sqrt(sigma_read^2 + <I_i> t) [e-] (without the ADC's 1/12 DN^2)."""
        return math.sqrt(self.read_noise_e**2 + self.dark_current_e_per_s * float(exposure_s))


@dataclass(frozen=True)
class PixelMaps:
    """The three static maps of a sensor, per pixel (flattened, row-major image order).

    Attributes
    ----------
    relative_gain : ndarray (n_pixels,)
        g_i, mean ~1 (the PRNU is its standard deviation) [1], > 0.
    dark_current_e_per_s : ndarray (n_pixels,)
        I_i [e-/s], >= 0.
    offset_dn : ndarray (n_pixels,)
        o_i, added to the black level [DN] (either sign).
    image_shape : (int, int) or None
        (rows, cols) of the image the maps came from, if known.
    """

    relative_gain: np.ndarray
    dark_current_e_per_s: np.ndarray
    offset_dn: np.ndarray
    image_shape: tuple[int, int] | None = None

    def __post_init__(self):
        n = None
        for name in ("relative_gain", "dark_current_e_per_s", "offset_dn"):
            a = np.asarray(getattr(self, name), dtype=np.float64).ravel()
            if n is None:
                n = a.size
            elif a.size != n:
                raise ShapeError(f"pixel maps: {name} has {a.size} pixels, relative_gain has {n}")
            if not np.all(np.isfinite(a)):
                raise ValidationError(f"pixel maps: {name} contains NaN or infinite values")
            object.__setattr__(self, name, a)
        if np.any(self.relative_gain <= 0):
            raise ValidationError(f"pixel maps: relative_gain must be > 0 in every pixel (minimum {self.relative_gain.min():g})")
        if np.any(self.dark_current_e_per_s < 0):
            raise ValidationError(
                f"pixel maps: dark_current_e_per_s must be >= 0 e-/s in every pixel (minimum {self.dark_current_e_per_s.min():g})"
            )
        if self.image_shape is not None:
            shape = tuple(int(v) for v in self.image_shape)
            if len(shape) != 2 or shape[0] * shape[1] != n:
                raise ShapeError(f"pixel maps: image_shape {shape} does not hold {n} pixels")
            object.__setattr__(self, "image_shape", shape)

    @property
    def n_pixels(self) -> int:
        return int(self.relative_gain.size)


def gamma_map(key: int, n_pixels: int, mean: float, sd: float) -> np.ndarray:
    """Per-pixel gamma variates of given mean and standard deviation from counter-based normals.

    x_i = G^-1(Phi(z_i); k, theta), k = (mean / sd)^2, theta = sd^2 / mean, with z_i the
    standard normal number i of the stream ``key`` (:func:`photonics.kernels.normal_numba`);
    the upper tail uses the complementary functions, so no precision is lost for z_i > 0.
    ``sd == 0`` gives the constant ``mean``. x_i > 0 always (>= 0 for a mean of 0).
    """
    if sd <= 0 or n_pixels == 0:
        return np.full(n_pixels, float(mean))
    if mean <= 0:
        raise ValidationError(f"a gamma map with sd {sd:g} > 0 needs a mean > 0 (got {mean:g})")
    from scipy.special import gammainccinv, gammaincinv, ndtr

    z = kernels.normal_numba(np.uint64(key), np.array([0], dtype=np.uint64), int(n_pixels))[0]
    k = (mean / sd) ** 2
    theta = sd * sd / mean
    low = z < 0
    out = np.empty(n_pixels)
    out[low] = gammaincinv(k, ndtr(z[low]))
    out[~low] = gammainccinv(k, ndtr(-z[~low]))
    return out * theta


def write_pixel_maps(path: str | os.PathLike, maps: PixelMaps, *, source: str = "", attrs: dict | None = None) -> Path:
    """Write measured pixel maps to HDF5 (atomic; kind :data:`PIXEL_MAPS_KIND`).

    Datasets ``relative_gain`` [1], ``dark_current_e_per_s`` [e-/s] and ``offset_dn`` [DN],
    shaped (rows, cols) when ``maps.image_shape`` is known, else (n_pixels,); attributes
    ``source`` and any scalar ``attrs`` (e.g. the statistics the maps were scaled to).
    """
    from .io import atomic_h5

    shape = maps.image_shape or (maps.n_pixels,)
    path = Path(path)
    with atomic_h5(path, PIXEL_MAPS_KIND) as fh:
        for name, unit in (("relative_gain", "1"), ("dark_current_e_per_s", "e-/s"), ("offset_dn", "DN")):
            ds = fh.create_dataset(name, data=getattr(maps, name).reshape(shape))
            ds.attrs["unit"] = unit
        fh.attrs["source"] = str(source)
        for k, v in (attrs or {}).items():
            fh.attrs[str(k)] = v
    return path


def read_pixel_maps(path: str | os.PathLike, n_pixels: int | None = None) -> PixelMaps:
    """Read a pixel-maps file written by :func:`write_pixel_maps`.

    Raises
    ------
    FileNotFoundError, FileFormatError
        Missing file, another kind of file, missing datasets.
    ShapeError
        The maps do not hold ``n_pixels`` pixels.
    ValidationError
        Non-finite values, a gain <= 0 or a negative dark current.
    """
    from .io import open_h5

    with open_h5(path, PIXEL_MAPS_KIND) as fh:
        data = {}
        for name in ("relative_gain", "dark_current_e_per_s", "offset_dn"):
            if name not in fh:
                raise FileFormatError(f"{path}: pixel-maps file lacks the dataset {name!r}")
            data[name] = np.asarray(fh[name][()], dtype=np.float64)
    shapes = {a.shape for a in data.values()}
    if len(shapes) != 1:
        raise ShapeError(f"{path}: the maps have different shapes {sorted(shapes)}")
    shape = shapes.pop()
    image_shape = shape if len(shape) == 2 else None
    try:
        maps = PixelMaps(image_shape=image_shape, **data)
    except (ShapeError, ValidationError) as exc:
        raise type(exc)(f"{path}: {exc}") from None
    if n_pixels is not None and maps.n_pixels != int(n_pixels):
        raise ShapeError(f"{path}: the pixel maps hold {maps.n_pixels} pixels but the camera reads {int(n_pixels)} (medium.n_out)")
    return maps


class Camera:
    """A simulated sensor with static pixel maps and counter-based temporal noise.

    Parameters
    ----------
    config : CameraConfig
        Sensor parameters.
    wavelength_m : float
        Light wavelength [m] (sets the photon energy).
    n_pixels : int
        Pixels read out.
    seed : int
        Device seed; the static maps use the streams ("camera", "prnu" / "dark_current" /
        "offset"), temporal noise the streams ("camera", "shot" / "read"), so noise draws
        never change the maps. Not used for the maps when ``config.pixel_maps`` is set.

    Attributes
    ----------
    prnu_map : ndarray
        Relative gain g_i (mean ~1) [1].
    dark_current_map_e_per_s : ndarray
        Dark current I_i [e-/s].
    offset_map_dn : ndarray
        Offset o_i added to the black level [DN].
    """

    def __init__(self, config: CameraConfig, wavelength_m: float, n_pixels: int, seed: int):
        self.config = config
        self.wavelength_m = float(wavelength_m)
        self.n_pixels = int(n_pixels)
        self.seed = int(seed)
        self.photon_energy_j = photon_energy_j(self.wavelength_m)
        if config.pixel_maps is not None:
            maps = read_pixel_maps(config.pixel_maps, self.n_pixels)
            self.prnu_map = maps.relative_gain
            self.dark_current_map_e_per_s = maps.dark_current_e_per_s
            self.offset_map_dn = maps.offset_dn
            log.info("camera: pixel maps loaded from %s", config.pixel_maps)
        else:
            n = self.n_pixels
            self.prnu_map = gamma_map(stream_key(seed, "camera", "prnu"), n, 1.0, config.prnu)
            self.dark_current_map_e_per_s = gamma_map(
                stream_key(seed, "camera", "dark_current"), n, config.dark_current_e_per_s, config.dark_current_sd_e_per_s
            )
            if config.offset_sd_dn > 0:
                z = kernels.normal_numba(np.uint64(stream_key(seed, "camera", "offset")), np.array([0], dtype=np.uint64), n)[0]
                self.offset_map_dn = config.offset_sd_dn * z
            else:
                self.offset_map_dn = np.zeros(n)
        self._key_shot = int(stream_key(seed, "camera", "shot"))
        self._key_read = int(stream_key(seed, "camera", "read"))
        self._params: dict[float, CameraKernelParameters] = {}

    # -- per-exposure conversion factors -------------------------------------------------------
    def check_exposure(self, exposure_s: float | None) -> float:
        """Validate an exposure override (None = the configured exposure) [s]."""
        if exposure_s is None:
            return self.config.exposure_s
        return check_real(
            exposure_s,
            "exposure_s",
            low=0.0,
            high=1.0 / self.config.frame_rate_hz,
            low_inclusive=False,
            unit="s",
            error=ValidationError,
        )

    def electrons_per_watt(self, exposure_s: float | None = None) -> np.ndarray:
        """Per-pixel mean photo-electrons per watt of optical power, eta g_i t / (h nu) [e-/W]."""
        t = self.check_exposure(exposure_s)
        return self.config.quantum_efficiency * self.prnu_map * (t / self.photon_energy_j)

    def dark_electrons(self, exposure_s: float | None = None) -> np.ndarray:
        """Per-pixel mean dark electrons of the exposure t, I_i t (>= 0) [e-]."""
        t = self.check_exposure(exposure_s)
        return self.dark_current_map_e_per_s * t

    def offset_dn(self) -> np.ndarray:
        """Per-pixel electronic offset added after the gain, black level + o_i [DN]."""
        return float(self.config.black_level_dn) + self.offset_map_dn

    def gain_dn_per_w(self, exposure_s: float | None = None) -> np.ndarray:
        """Per-pixel mean DN per watt (below saturation) [DN/W]."""
        return self.electrons_per_watt(exposure_s) / self.config.gain_e_per_dn

    # -- read-out -------------------------------------------------------------------------------
    def read(self, power_w: np.ndarray, frame0: int, exposure_s: float | None = None, *, use_numba: bool = True) -> np.ndarray:
        """Read out frames.

        Parameters
        ----------
        power_w : ndarray (n_frames, n_pixels)
            Optical power on each pixel during the exposure [W], >= 0, finite.
        frame0 : int
            Global index of the first frame (selects the noise realisation; the device's
            frame counter).
        exposure_s : float, optional
            Exposure override [s] (<= frame period); the dark current follows it.
        use_numba : bool
            False runs the numpy reference twin (slow; for tests).

        Returns
        -------
        ndarray (n_frames, n_pixels)
            DN, dtype ``config.output_dtype`` (uint8/uint16, or float32 when not quantized).
        """
        power_w = np.asarray(power_w)
        if power_w.ndim != 2 or power_w.shape[1] != self.n_pixels:
            raise ShapeError(f"power_w must be (n_frames, {self.n_pixels}) (got shape {power_w.shape})")
        if power_w.dtype not in (np.float32, np.float64):
            power_w = as_float_array(power_w, "power_w")
        elif not np.all(np.isfinite(power_w)):
            raise ValidationError("power_w contains NaN or infinite values; optical power must be finite")
        if power_w.size and power_w.min() < 0:
            raise ValidationError(f"power_w must be >= 0 W (got minimum {power_w.min():g})")
        check_int(frame0, "frame0", low=0, error=ValidationError)
        return self._read(power_w, int(frame0), self.check_exposure(exposure_s), use_numba)

    def kernel_parameters(self, exposure_s: float | None = None) -> CameraKernelParameters:
        """The read-out parameters of an exposure (validated; cached per exposure) [see the class]."""
        t = self.check_exposure(exposure_s)
        params = self._params.get(t)
        if params is None:
            c = self.config
            params = CameraKernelParameters(
                e_per_w=self.electrons_per_watt(t),
                dark_e=self.dark_electrons(t),
                offset_dn=self.offset_dn(),
                read_noise_e=float(c.read_noise_e),
                full_well_e=float(c.full_well_e),
                dn_per_e=1.0 / c.gain_e_per_dn,
                max_dn=float(c.max_dn),
                shot_noise=bool(c.shot_noise),
                clip_full_well=bool(c.clip_full_well),
                quantize=bool(c.quantize),
                key_shot=self._key_shot,
                key_read=self._key_read,
                output_dtype=c.output_dtype,
            )
            if len(self._params) > 16:
                self._params.clear()
            self._params[t] = params
        return params

    def _read(self, power_w: np.ndarray, frame0: int, exposure_s: float, use_numba: bool = True) -> np.ndarray:
        """Fast path of :meth:`read` (no validation; the device calls it with its own power)."""
        k = self.kernel_parameters(exposure_s)
        if not use_numba:
            return kernels.camera_numpy(power_w, *k.kernel_args(frame0)).astype(k.output_dtype)
        out = np.empty(power_w.shape, dtype=k.output_dtype)
        small = power_w.size < kernels.SERIAL_BELOW
        if k.noiseless:
            kern = kernels.camera_noiseless_serial if small else kernels.camera_noiseless_numba
            kern(power_w, *k.noiseless_args(), out)
            return out
        kern = kernels.camera_serial if small else kernels.camera_numba
        kern(power_w, *k.kernel_args(frame0), out)
        return out

    def reading_statistics(self, power_w=0.0, exposure_s: float | None = None) -> ReadingStatistics:
        """Per-pixel mean and variance of a reading for optical power ``power_w`` [W] (scalar or (n_pixels,)).

        Uses this sensor's pixel maps (gain, dark current, offset); see :func:`reading_statistics`.
        """
        t = self.check_exposure(exposure_s)
        signal = np.asarray(power_w, dtype=np.float64) * self.electrons_per_watt(t)
        return reading_statistics(self.config, signal, self.dark_electrons(t), exposure_s=t, offset_dn=self.offset_dn())

    def expected_moments(self, power_w=0.0, exposure_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel mean [DN] and temporal variance [DN^2] of a reading, saturation included.

        The noise model of :func:`reading_statistics` carried beyond saturation in the Gaussian
        approximation of the shot noise (good above ~20 e-): electrons N(mu_e, mu_e) clipped at
        the full well, plus the read noise, converted to DN with the pixel's offset, plus the
        rounding variance, clipped at the ADC top. Used for the ground truth of the EMVA
        saturation point (the maximum of the temporal variance).
        """
        c = self.config
        st = self.reading_statistics(power_w, exposure_s)
        mu_e = st.signal_e + st.dark_e
        if c.clip_full_well:
            mu_e, var_e = clipped_normal_moments(mu_e, st.shot_var_e2, c.full_well_e)
        else:
            var_e = st.shot_var_e2 + 0.0 * mu_e
        m = mu_e / c.gain_e_per_dn + st.offset_dn
        v = (var_e + st.read_var_e2 + st.quantization_var_e2) / c.gain_e_per_dn**2
        if c.quantize:
            m, v = clipped_normal_moments(m, v, float(c.max_dn))
        return np.asarray(m), np.asarray(v)

    def expected_dn(self, power_w: np.ndarray, exposure_s: float | None = None) -> np.ndarray:
        """Noise-free mean DN (before rounding, without saturation) for ``power_w`` [DN], offsets included."""
        return self.reading_statistics(power_w, exposure_s).mean_dn

    def truth(self) -> CameraTruth:
        """Ground-truth parameters (EMVA quantities), exactly as configured."""
        c = self.config
        k = c.system_gain_dn_per_e
        t = c.exposure_s
        return CameraTruth(
            exposure_s=t,
            system_gain_dn_per_e=k,
            read_noise_e=c.read_noise_e,
            read_noise_dn=c.read_noise_e * k,
            dark_current_e_per_s=c.dark_current_e_per_s,
            dark_current_sd_e_per_s=c.dark_current_sd_e_per_s,
            offset_sd_dn=c.offset_sd_dn,
            dark_signal_e=c.dark_current_e_per_s * t,
            black_level_dn=c.black_level_dn,
            saturation_capacity_e=c.saturation_e,
            full_well_e=c.full_well_e,
            quantum_efficiency=c.quantum_efficiency,
            prnu=c.prnu,
            dsnu_e=math.hypot(c.dark_current_sd_e_per_s * t, c.offset_sd_dn * c.gain_e_per_dn),
            temporal_dark_noise_e=math.sqrt(c.read_noise_e**2 + c.dark_current_e_per_s * t),
        )

    def map_statistics(self, exposure_s: float | None = None) -> dict[str, float]:
        """Realised statistics of this sensor's pixel maps (one draw of the configured ones).

        Keys: ``prnu`` (sd of g_i / mean g_i), ``dark_current_e_per_s`` (mean I_i),
        ``dark_current_sd_e_per_s`` (sd I_i), ``offset_sd_dn`` (sd o_i), ``dark_signal_e``
        (mean I_i t) and ``dsnu_e`` (sd of I_i t + o_i gain_e_per_dn) at ``exposure_s``
        (default the configured exposure). Standard deviations with ddof = 1.
        """
        t = self.check_exposure(exposure_s)
        g = self.config.gain_e_per_dn
        dark_e = self.dark_current_map_e_per_s * t + self.offset_map_dn * g
        return {
            "prnu": float(np.std(self.prnu_map, ddof=1) / np.mean(self.prnu_map)),
            "dark_current_e_per_s": float(np.mean(self.dark_current_map_e_per_s)),
            "dark_current_sd_e_per_s": float(np.std(self.dark_current_map_e_per_s, ddof=1)),
            "offset_sd_dn": float(np.std(self.offset_map_dn, ddof=1)),
            "dark_signal_e": float(np.mean(self.dark_current_map_e_per_s) * t),
            "dsnu_e": float(np.std(dark_e, ddof=1)),
        }

    def pixel_maps(self, image_shape: tuple[int, int] | None = None) -> PixelMaps:
        """This sensor's maps as a :class:`PixelMaps` (e.g. to write them with :func:`write_pixel_maps`)."""
        return PixelMaps(self.prnu_map.copy(), self.dark_current_map_e_per_s.copy(), self.offset_map_dn.copy(), image_shape)
