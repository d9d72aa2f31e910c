"""Physical constants (SI) and unit conversions used across the toolkit."""

from __future__ import annotations

__all__ = ["PLANCK_J_S", "SPEED_OF_LIGHT_M_PER_S", "photon_energy_j", "photons_per_joule"]

#: Planck constant h [J s] (exact, SI 2019).
PLANCK_J_S = 6.62607015e-34
#: Speed of light in vacuum c [m/s] (exact).
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0


def photon_energy_j(wavelength_m: float) -> float:
    """Energy of one photon, E = h c / lambda [J], for a vacuum wavelength in metres."""
    return PLANCK_J_S * SPEED_OF_LIGHT_M_PER_S / wavelength_m


def photons_per_joule(wavelength_m: float) -> float:
    """Number of photons in one joule of light at ``wavelength_m`` [1/J]."""
    return 1.0 / photon_energy_j(wavelength_m)
