"""Noise budget of a device: signal and noise per pixel, before anything is simulated.

For a fraction ``density`` of ON input modes the mean pixel power is
P = transmission * sum_j p_j / n_out (see :mod:`photonics.config`); the camera turns it into
mu_e = QE * P * t_exp / (h c / lambda) electrons. The temporal noise of one pixel is

    sigma_e^2 = mu_e + mu_dark + sigma_read^2 + gain^2 / 12     (shot, dark shot, read, ADC)

For fully developed speckle the pixel intensities are exponentially distributed around
their mean, so the fraction of pixels above the saturation level s is exp(-s / mu_e).
"""

from __future__ import annotations

import math

from .config import DeviceConfig
from .units import photon_energy_j

__all__ = ["noise_budget"]


def noise_budget(config: DeviceConfig, density: float = 0.5) -> dict:
    """Per-pixel signal and noise for inputs with a fraction ``density`` of ON modes.

    Returns a dict of floats with units in the keys: ``pixel_power_w``, ``photons``,
    ``signal_e``, ``dark_e``, ``shot_noise_e``, ``read_noise_e``, ``quantization_noise_e``,
    ``total_noise_e``, ``snr`` (signal / total noise), ``mean_dn``, ``adc_fill``
    (mean signal / ADC range) and ``saturated_fraction`` (speckle pixels above saturation).
    """
    cam = config.camera
    p = config.mean_pixel_power_w(density)
    photons = p * cam.exposure_s / photon_energy_j(config.laser.wavelength_m)
    signal_e = cam.quantum_efficiency * photons
    dark_e = cam.dark_current_e_per_s * cam.exposure_s
    shot = math.sqrt(signal_e + dark_e) if cam.shot_noise else 0.0
    quant = cam.gain_e_per_dn / math.sqrt(12.0) if cam.quantize else 0.0
    total = math.sqrt(shot**2 + cam.read_noise_e**2 + quant**2)
    sat = cam.saturation_e
    adc_range_e = (cam.max_dn - cam.black_level_dn) * cam.gain_e_per_dn if cam.quantize else math.inf
    return {
        "density": density,
        "pixel_power_w": p,
        "photons": photons,
        "signal_e": signal_e,
        "dark_e": dark_e,
        "shot_noise_e": shot,
        "read_noise_e": cam.read_noise_e,
        "quantization_noise_e": quant,
        "total_noise_e": total,
        "snr": signal_e / total if total > 0 else math.inf,
        "mean_dn": (signal_e + dark_e) / cam.gain_e_per_dn + cam.black_level_dn,
        "adc_fill": signal_e / adc_range_e if math.isfinite(adc_range_e) else 0.0,
        "saturation_e": sat,
        "saturated_fraction": math.exp(-sat / signal_e) if (signal_e > 0 and math.isfinite(sat)) else 0.0,
    }
