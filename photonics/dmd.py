"""Binary amplitude modulator (DMD): frames of on/off mirrors -> input-mode field amplitudes.

An ON mode carries the field amplitude a = sqrt(p_mode) [sqrt(W)] (see
:mod:`photonics.config` for p_mode); an OFF mode leaks a * l with l = 1/sqrt(contrast_ratio),
with the same phase. For a binary frame x the input field is therefore affine in x::

    a_j = a * (l + (1 - l) x_j) = alpha * x_j + beta,   alpha = a (1 - l),  beta = a l

which the device exploits: the medium multiplies the *binary* frame (one real GEMM) and the
constant part beta * T 1 is added once per pixel.
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

    def reference_amplitude(self, on: bool) -> float:
        """Field amplitude of each reference mode, ON (a) or OFF (a l) [sqrt(W)]."""
        return self.amplitude_sqrt_w if on else self.beta
