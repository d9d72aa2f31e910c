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

__all__ = ["Camera", "CameraTruth"]


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
        self._key_shot = np.uint64(stream_key(seed, "camera", "shot"))
        self._key_read = np.uint64(stream_key(seed, "camera", "read"))

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

    def _read(self, power_w: np.ndarray, frame0: int, exposure_s: float, use_numba: bool = True) -> np.ndarray:
        """Fast path of :meth:`read` (no validation; the device calls it with its own power)."""
        c = self.config
        e_per_w = self.electrons_per_watt(exposure_s)
        dark_e = self.dark_electrons(exposure_s)
        args = (
            float(c.read_noise_e),
            float(c.full_well_e),
            1.0 / c.gain_e_per_dn,
            float(c.black_level_dn),
            float(c.max_dn),
            bool(c.shot_noise),
            bool(c.clip_full_well),
            bool(c.quantize),
        )
        if not use_numba:
            dn = kernels.camera_numpy(power_w, e_per_w, dark_e, *args, int(self._key_shot), int(self._key_read), int(frame0))
            return dn.astype(c.output_dtype)
        out = np.empty(power_w.shape, dtype=c.output_dtype)
        small = power_w.size < kernels.SERIAL_BELOW
        if not c.shot_noise and c.read_noise_e == 0:
            kern = kernels.camera_noiseless_serial if small else kernels.camera_noiseless_numba
            kern(power_w, e_per_w, dark_e, args[1], args[2], args[3], args[4], args[6], args[7], out)
            return out
        kern = kernels.camera_serial if small else kernels.camera_numba
        kern(power_w, e_per_w, dark_e, *args, self._key_shot, self._key_read, int(frame0), out)
        return out

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
