"""Binary amplitude modulator (DMD): frames of on/off mirrors -> input-mode field amplitudes.

An ON mode carries the field amplitude a = sqrt(p_mode) [sqrt(W)] (see
:mod:`photonics.config` for p_mode); an OFF mode leaks a * l with l = 1/sqrt(contrast_ratio),
with the same phase. For a binary frame x the input field is therefore affine in x::

    a_j = a * (l + (1 - l) x_j) = alpha * x_j + beta,   alpha = a (1 - l),  beta = a l

which the device exploits: the medium multiplies the *binary* frame (one real GEMM) and the
constant part beta * T 1 is added once per pixel.

Modulator interface (shared with :class:`photonics.slm.PhaseSLM`, used by the device):
``kind``, ``check_frames(frames)``, ``split_field(medium, frames, time_s)`` (the split field
of the modulated part), ``alpha`` (its scale), ``beta`` and ``reference_amplitude(on)`` (the
constant field of leaking and reference modes added by the device).
"""

from __future__ import annotations

import math

import numpy as np

from .config import DeviceConfig
from .validation import as_binary_frames

__all__ = ["DMD"]


class DMD:
    """The DMD of a device: frame validation and the affine field map.

    Parameters
    ----------
    config : DeviceConfig
        The device (uses dmd, laser and the mode counts).
    """

    kind = "dmd"

    def __init__(self, config: DeviceConfig):
        self.config = config
        self.n_in = config.n_in
        self.n_reference = config.n_reference
        self.amplitude_sqrt_w = math.sqrt(config.mode_power_w)
        self.leak = config.dmd.leak_amplitude
        self.alpha = self.amplitude_sqrt_w * (1.0 - self.leak)
        self.beta = self.amplitude_sqrt_w * self.leak

    def check_frames(self, frames, name: str = "frames") -> np.ndarray:
        """Validate binary frames (..., n_in) and return them as uint8 (N, n_in)."""
        f = as_binary_frames(frames, name, self.n_in)
        return f.reshape(-1, self.n_in)

    def split_field(self, medium, frames, time_s: float = 0.0) -> np.ndarray:
        """[Re | Im] of T x for binary frames (N, n_in) (float32, N x 2 n_out); scale by ``alpha``."""
        x = np.asarray(frames).astype(np.float32)
        return medium.split_field(x, None, time_s=time_s)  # None: the signal columns 0:n_in (no slice to validate)

    def reference_amplitude(self, on: bool) -> float:
        """Field amplitude of each reference mode, ON (a) or OFF (a l) [sqrt(W)]."""
        return self.amplitude_sqrt_w if on else self.beta
