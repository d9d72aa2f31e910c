"""Camera model: optical power on each pixel -> digital numbers (DN).

For pixel i of a frame (EMVA 1288 linear camera model)::

    n_ph   = P_i * t_exp / (h c / lambda)                         photons       [1]
    mu_e   = eta * (1 + prnu_i) * n_ph + I_dark * t_exp + dsnu_i  mean electrons [e-]
    e      = Poisson(mu_e)                                        shot noise    [e-]
    e      = min(e, full_well_e)                                  full well     [e-]
    e     += N(0, sigma_read^2)                                   read noise    [e-]
    DN     = clip(round(e / gain_e_per_dn + black_level_dn), 0, 2^bits - 1)

so that, away from saturation, the temporal variance obeys the photon transfer relation
``var(DN) = K * (mu_DN - mu_DN,dark) + K^2 sigma_read^2 + 1/12`` with K = 1/gain_e_per_dn.
PRNU (relative gain map, std ``prnu``) and DSNU (dark offset map, std ``dsnu_e``) are static:
they come from the device's static stream, not from the per-frame noise stream. Each stage
can be switched off in :class:`~photonics.config.CameraConfig`.

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
from dataclasses import dataclass

import numpy as np

from . import kernels
from .config import CameraConfig
from .errors import ShapeError, ValidationError
from .rng import stream_key
from .units import photon_energy_j
from .validation import as_float_array, check_int, check_real

log = logging.getLogger(__name__)

__all__ = ["Camera", "CameraTruth", "CameraKernelParameters", "ReadingStatistics", "reading_statistics"]


@dataclass(frozen=True)
class ReadingStatistics:
    """Mean and variance of one pixel reading below saturation, stage by stage.

    For mean photo-electrons mu_s (signal) and mean dark electrons mu_d of a pixel::

        shot_var_e2         = mu_s + mu_d                 (Poisson; 0 without shot noise)   [e-^2]
        read_var_e2         = sigma_read^2                                                  [e-^2]
        quantization_var_e2 = gain_e_per_dn^2 / 12        (0 without the ADC)               [e-^2]
        temporal_var_e2     = shot_var_e2 + read_var_e2   (the physical noise of a reading)
        total_var_e2        = temporal_var_e2 + quantization_var_e2
        mean_dn             = (mu_s + mu_d) / gain_e_per_dn + black_level_dn                [DN]
        total_var_dn2       = total_var_e2 / gain_e_per_dn^2                                [DN^2]

    Fields are floats or arrays (broadcast of the inputs). The quantization term is the
    variance of rounding a value spread over many DN (uniform error); it is exact on average
    over a signal range of one DN or more.
    """

    signal_e: object
    dark_e: object
    shot_var_e2: object
    read_var_e2: float
    quantization_var_e2: float
    gain_e_per_dn: float
    black_level_dn: float

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
        return (self.signal_e + self.dark_e) / self.gain_e_per_dn + self.black_level_dn

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


def reading_statistics(camera: CameraConfig, signal_e, dark_e=None, *, exposure_s: float | None = None) -> ReadingStatistics:
    """Mean and variance of a reading of ``camera`` for a mean of ``signal_e`` photo-electrons.

    Parameters
    ----------
    camera : CameraConfig
    signal_e : float or array
        Mean photo-electrons of the pixel [e-], >= 0.
    dark_e : float or array, optional
        Mean dark electrons [e-]; default the configured dark current x exposure (the mean
        over pixels; :meth:`Camera.reading_statistics` uses each pixel's own).
    exposure_s : float, optional
        Exposure for the default dark signal [s]; default the configured exposure.
    """
    if not isinstance(camera, CameraConfig):
        raise ValidationError(f"camera must be a CameraConfig (got {type(camera).__name__})")
    sig = np.asarray(signal_e, dtype=np.float64) if np.ndim(signal_e) else float(signal_e)
    if dark_e is None:
        t = camera.exposure_s if exposure_s is None else float(exposure_s)
        dark_e = camera.dark_current_e_per_s * t
    dark = np.asarray(dark_e, dtype=np.float64) if np.ndim(dark_e) else float(dark_e)
    return ReadingStatistics(
        signal_e=sig,
        dark_e=dark,
        shot_var_e2=(sig + dark) if camera.shot_noise else 0.0 * (sig + dark),
        read_var_e2=float(camera.read_noise_e) ** 2,
        quantization_var_e2=float(camera.gain_e_per_dn) ** 2 / 12.0 if camera.quantize else 0.0,
        gain_e_per_dn=float(camera.gain_e_per_dn),
        black_level_dn=float(camera.black_level_dn),
    )


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
        Photo-electrons per watt of optical power (QE, PRNU, exposure, photon energy) [e-/W].
    dark_e : ndarray (n_pixels,) float64
        Mean dark electrons of the exposure [e-].
    offset_dn : ndarray (n_pixels,) float64
        Electronic offset added after the gain (black level) [DN].
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
    """Ground-truth camera parameters of a simulated device (what calibration must recover)."""

    system_gain_dn_per_e: float
    read_noise_e: float
    read_noise_dn: float
    dark_signal_e: float
    black_level_dn: float
    saturation_capacity_e: float
    full_well_e: float
    quantum_efficiency: float
    prnu: float
    dsnu_e: float


class Camera:
    """A simulated sensor with fixed-pattern maps and counter-based temporal noise.

    Parameters
    ----------
    config : CameraConfig
        Sensor parameters.
    wavelength_m : float
        Light wavelength [m] (sets the photon energy).
    n_pixels : int
        Pixels read out.
    seed : int
        Device seed; static maps use the streams ("camera", "prnu"/"dsnu"), temporal noise the
        streams ("camera", "shot"/"read"), so noise draws never change the maps.
    """

    def __init__(self, config: CameraConfig, wavelength_m: float, n_pixels: int, seed: int):
        self.config = config
        self.wavelength_m = float(wavelength_m)
        self.n_pixels = int(n_pixels)
        self.seed = int(seed)
        self.photon_energy_j = photon_energy_j(self.wavelength_m)
        pix = np.array([0], dtype=np.uint64)
        if config.prnu > 0:
            z = kernels.normal_numba(np.uint64(stream_key(seed, "camera", "prnu")), pix, self.n_pixels)[0]
            self.prnu_map = np.maximum(1.0 + config.prnu * z, 0.0)
        else:
            self.prnu_map = np.ones(self.n_pixels)
        if config.dsnu_e > 0:
            self.dsnu_map_e = config.dsnu_e * kernels.normal_numba(np.uint64(stream_key(seed, "camera", "dsnu")), pix, self.n_pixels)[0]
        else:
            self.dsnu_map_e = np.zeros(self.n_pixels)
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
        """Per-pixel mean photo-electrons per watt of optical power, eta (1+prnu_i) t / (h nu) [e-/W]."""
        t = self.check_exposure(exposure_s)
        return self.config.quantum_efficiency * self.prnu_map * (t / self.photon_energy_j)

    def dark_electrons(self, exposure_s: float | None = None) -> np.ndarray:
        """Per-pixel mean dark electrons, I_dark t + dsnu_i (>= 0) [e-]."""
        t = self.check_exposure(exposure_s)
        return np.maximum(self.config.dark_current_e_per_s * t + self.dsnu_map_e, 0.0)

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
            Exposure override [s] (<= frame period).
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
                offset_dn=np.full(self.n_pixels, float(c.black_level_dn)),
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

        Uses this sensor's PRNU and dark maps; see :func:`reading_statistics` for the stages.
        """
        t = self.check_exposure(exposure_s)
        signal = np.asarray(power_w, dtype=np.float64) * self.electrons_per_watt(t)
        return reading_statistics(self.config, signal, self.dark_electrons(t), exposure_s=t)

    def expected_dn(self, power_w: np.ndarray, exposure_s: float | None = None) -> np.ndarray:
        """Noise-free mean DN (before rounding, without saturation) for ``power_w`` [DN]."""
        e = np.asarray(power_w, dtype=np.float64) * self.electrons_per_watt(exposure_s) + self.dark_electrons(exposure_s)
        return e / self.config.gain_e_per_dn + self.config.black_level_dn

    def truth(self) -> CameraTruth:
        """Ground-truth parameters (EMVA quantities) of this simulated sensor."""
        c = self.config
        return CameraTruth(
            system_gain_dn_per_e=c.system_gain_dn_per_e,
            read_noise_e=c.read_noise_e,
            read_noise_dn=c.read_noise_e / c.gain_e_per_dn,
            dark_signal_e=float(np.mean(self.dark_electrons())),
            black_level_dn=c.black_level_dn,
            saturation_capacity_e=c.saturation_e,
            full_well_e=c.full_well_e,
            quantum_efficiency=c.quantum_efficiency,
            prnu=c.prnu,
            dsnu_e=c.dsnu_e,
        )
