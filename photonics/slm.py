"""Phase-only spatial light modulator (LCoS): gray levels -> complex input-mode amplitudes.

An SLM pixel with gray level g reflects light with the phase phi = 2 pi g / gray_levels. An
input mode is a macropixel of m x m pixels; the modes (signal first, then the reference
block, which stays at gray level 0: the unmodulated part of the modulator) are laid out
row-major on a near-square array of macropixels. Two imperfections of real LCoS panels are
modelled:

* pixel crosstalk (fringing fields): the phase map is blurred by a Gaussian of standard
  deviation ``crosstalk_px`` pixels before it acts on the light, so sharp phase steps between
  neighbouring macropixels become ramps (and the reference modes at the border of the signal
  area pick up some of their neighbours' phase);
* fill factor: only a fraction ff of the area is modulated pixel electrode; the rest (gaps)
  reflects with the unmodulated phase 0.

The complex amplitude of mode j is therefore

    a_j = A * ( ff * mean_{p in j} exp(i (G_sigma * phi)(p)) + (1 - ff) ),

A = sqrt(p_mode) the field of one mode [sqrt(W)] (see :attr:`DeviceConfig.mode_power_w`). With
no crosstalk and ff = 1 this is exactly A exp(i phi_j). The camera field is T a over all
n_in + n_reference columns, so the reference is part of every frame (it cannot be switched
off: the device's linear reference scheme is DMD-only; the phase-shifting TM measurement of
:mod:`photonics.calibration.phase_shifting` is the SLM counterpart).

The SLM shares the DMD's interface with the device (:class:`photonics.OPU`):
``check_frames``, ``split_field(medium, frames, time_s)``, ``alpha``, ``beta``,
``reference_amplitude``.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .config import DeviceConfig
from .errors import DTypeError, ShapeError, ValidationError

log = logging.getLogger(__name__)

__all__ = ["PhaseSLM"]

#: Frames processed at once by the crosstalk model (bounds the pixel-image memory).
_CHUNK_PIXELS = 1 << 24


class PhaseSLM:
    """The phase SLM of a device: gray-level frames -> complex mode amplitudes -> camera field.

    Parameters
    ----------
    config : DeviceConfig
        The device (uses ``slm``, the laser power and the mode counts).

    Attributes
    ----------
    amplitude_sqrt_w : float
        A, the field of one fully reflecting mode [sqrt(W)].
    layout : (int, int)
        Macropixel array (rows, cols) holding the n_in + n_reference modes.
    """

    kind = "slm"
    #: The field is computed whole (signal + reference); the device adds no constant field.
    alpha = 1.0
    beta = 0.0

    def __init__(self, config: DeviceConfig):
        self.config = config
        sc = config.slm
        self.n_in = config.n_in
        self.n_reference = config.n_reference
        self.n_modes = config.n_modes_total
        self.gray_levels = sc.gray_levels
        self.macropixel = sc.macropixel
        self.fill_factor = sc.fill_factor
        self.crosstalk_px = sc.crosstalk_px
        self.amplitude_sqrt_w = math.sqrt(config.mode_power_w)
        if sc.shape is not None:
            cols = sc.shape[1] // sc.macropixel
        else:
            cols = int(math.ceil(math.sqrt(self.n_modes)))
        rows = int(math.ceil(self.n_modes / cols))
        self.layout = (rows, cols)
        self.frame_dtype = np.uint8 if self.gray_levels <= 256 else np.uint16

    # -- frames -------------------------------------------------------------------------------------
    def check_frames(self, frames, name: str = "frames") -> np.ndarray:
        """Validate gray-level frames (..., n_in), integers in [0, gray_levels), as (N, n_in)."""
        arr = np.asarray(frames)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DTypeError(f"{name} must be a numeric array of SLM gray levels (got dtype {arr.dtype})")
        if np.iscomplexobj(arr):
            raise DTypeError(f"{name} must be real gray levels (got complex dtype {arr.dtype})")
        if arr.ndim == 0 or arr.shape[-1] != self.n_in:
            raise ShapeError(f"{name} must have last axis of length n_in={self.n_in} (got shape {arr.shape})")
        top = self.gray_levels - 1
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                raise ValidationError(f"{name} contains NaN or infinite values; gray levels must be integers in [0, {top}]")
            if not np.all(arr == np.round(arr)):
                raise ValidationError(f"{name} must hold integer gray levels in [0, {top}] (found non-integer values)")
        if arr.size and (arr.min() < 0 or arr.max() > top):
            raise ValidationError(
                f"{name} must hold gray levels in [0, {top}] (slm.gray_levels={self.gray_levels}); "
                f"got values in [{arr.min()}, {arr.max()}]"
            )
        return arr.astype(self.frame_dtype).reshape(-1, self.n_in)

    def gray_for_phase(self, phase_rad) -> np.ndarray:
        """Nearest gray level for a phase [rad] (wrapped to [0, 2 pi))."""
        ph = np.mod(np.asarray(phase_rad, dtype=np.float64), 2 * math.pi)
        return (np.rint(ph * self.gray_levels / (2 * math.pi)).astype(np.int64) % self.gray_levels).astype(self.frame_dtype)

    def phase_of(self, gray) -> np.ndarray:
        """Phase 2 pi g / gray_levels [rad] of gray levels g."""
        return 2 * math.pi * np.asarray(gray, dtype=np.float64) / self.gray_levels

    # -- amplitudes ---------------------------------------------------------------------------------
    def _mode_phasors(self, phase: np.ndarray) -> np.ndarray:
        """mean over each macropixel of exp(i blurred phase), for phases (N, n_modes) -> complex128."""
        if self.crosstalk_px == 0:
            return np.exp(1j * phase)
        from scipy import ndimage

        rows, cols = self.layout
        m = self.macropixel
        n = phase.shape[0]
        out = np.empty((n, self.n_modes), dtype=np.complex128)
        per_frame = rows * cols * m * m
        step = max(1, _CHUNK_PIXELS // per_frame)
        for s in range(0, n, step):
            e = min(s + step, n)
            grid = np.zeros((e - s, rows * cols))
            grid[:, : self.n_modes] = phase[s:e]
            img = np.repeat(np.repeat(grid.reshape(e - s, rows, cols), m, axis=1), m, axis=2)
            img = ndimage.gaussian_filter(img, sigma=(0, self.crosstalk_px, self.crosstalk_px), mode="nearest")
            ph = np.exp(1j * img).reshape(e - s, rows, m, cols, m).mean(axis=(2, 4))
            out[s:e] = ph.reshape(e - s, rows * cols)[:, : self.n_modes]
        return out

    def mode_amplitudes(self, frames) -> np.ndarray:
        """Complex amplitudes (N, n_in + n_reference) [sqrt(W)] for gray-level frames (N, n_in).

        The reference modes are at gray level 0. a_j = A (ff m_j + 1 - ff), m_j the
        macropixel mean of exp(i blurred phase).
        """
        f = self.check_frames(frames)
        phase = np.zeros((f.shape[0], self.n_modes))
        phase[:, : self.n_in] = self.phase_of(f)
        m = self._mode_phasors(phase)
        ff = self.fill_factor
        return self.amplitude_sqrt_w * (ff * m + (1.0 - ff))

    # -- interface shared with the DMD ------------------------------------------------------------
    def split_field(self, medium, frames, time_s: float = 0.0) -> np.ndarray:
        """[Re | Im] of the camera field T a (float32, N x 2 n_out), all modes included."""
        a = self.mode_amplitudes(frames)
        e = medium.field(a, cols=slice(0, self.n_modes), time_s=time_s)
        return np.concatenate([e.real, e.imag], axis=1).astype(np.float32, copy=False)

    def reference_amplitude(self, on: bool) -> float:
        """0: the reference modes' field is already part of :meth:`split_field`."""
        return 0.0
