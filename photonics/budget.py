"""Signal and noise budgets of a device, from its configuration, before anything is simulated.

For a fraction ``density`` of ON input modes the mean pixel power is
P = transmission * sum_j p_j / n_out (see :mod:`photonics.config`); the camera turns it into
mu_e = QE * P * t_exp / (h c / lambda) electrons, and its noise model
(:func:`photonics.camera.reading_statistics`) gives the temporal noise of one pixel,

    sigma_e^2 = mu_e + mu_dark + sigma_read^2 + gain^2 / 12     (shot, dark shot, read, ADC)

For fully developed speckle the pixel intensities are exponentially distributed around
their mean, so the fraction of pixels above the saturation level s is exp(-s / mu_e).

:func:`linear_projection_budget` gives the photon budget of a linear (holographic)
projection: the electrons one ON signal mode and the reference block bring to a pixel, which
set the per-frame SNR of ``OPU.linear`` (~ sqrt(2 x signal electrons) when the reference's shot
noise dominates).
"""

from __future__ import annotations

import math

from .camera import reading_statistics
from .config import DeviceConfig
from .units import photon_energy_j

__all__ = ["noise_budget", "linear_projection_budget"]


def noise_budget(config: DeviceConfig, density: float = 0.5, *, reference: bool = False) -> dict:
    """Per-pixel signal and noise for inputs with a fraction ``density`` of ON modes.

    ``reference``: the reference block ON (the frames of a linear projection), else OFF.
    Returns a dict of floats with units in the keys: ``pixel_power_w``, ``photons``,
    ``signal_e``, ``dark_e``, ``shot_noise_e``, ``read_noise_e``, ``quantization_noise_e``,
    ``total_noise_e``, ``snr`` (signal / total noise), ``mean_dn``, ``adc_fill``
    (mean signal / ADC range) and ``saturated_fraction`` (speckle pixels above saturation).
    """
    cam = config.camera
    p = config.mean_pixel_power_w(density, reference=reference)
    photons = p * cam.exposure_s / photon_energy_j(config.laser.wavelength_m)
    st = reading_statistics(cam, cam.quantum_efficiency * photons)
    signal_e = st.signal_e
    total = math.sqrt(st.total_var_e2)
    sat = cam.saturation_e
    adc_range_e = (cam.max_dn - cam.black_level_dn) * cam.gain_e_per_dn if cam.quantize else math.inf
    return {
        "density": density,
        "reference": bool(reference),
        "pixel_power_w": p,
        "photons": photons,
        "signal_e": signal_e,
        "dark_e": st.dark_e,
        "shot_noise_e": math.sqrt(st.shot_var_e2),
        "read_noise_e": math.sqrt(st.read_var_e2),
        "quantization_noise_e": math.sqrt(st.quantization_var_e2),
        "total_noise_e": total,
        "snr": signal_e / total if total > 0 else math.inf,
        "mean_dn": st.mean_dn,
        "adc_fill": signal_e / adc_range_e if math.isfinite(adc_range_e) else 0.0,
        "saturation_e": sat,
        "saturated_fraction": math.exp(-sat / signal_e) if (signal_e > 0 and math.isfinite(sat)) else 0.0,
    }


def linear_projection_budget(config: DeviceConfig) -> dict:
    """Mean electrons per camera pixel of one ON signal mode and of the reference block, and the ADC range.

    From :func:`noise_budget`: one mode ON (density 1/n_in; includes the leak of the OFF modes)
    minus none ON gives ``electrons_per_mode``; the reference block of n_reference such modes
    gives ``reference_electrons``. ``range_electrons`` is the saturation level [e-]; speckle
    intensities are exponential, so a level L saturates a fraction exp(-range / L) of the pixels
    (``reference_saturated_fraction`` for the reference alone).
    """
    one = noise_budget(config, density=1.0 / config.n_in)
    none = noise_budget(config, density=0.0)
    per_mode = one["signal_e"] - none["signal_e"]
    sat = config.camera.saturation_e
    ref = per_mode * config.n_reference
    return {
        "electrons_per_mode": per_mode,
        "reference_electrons": ref,
        "range_electrons": sat,
        "reference_saturated_fraction": math.exp(-sat / ref) if ref > 0 and math.isfinite(sat) else 0.0,
    }
