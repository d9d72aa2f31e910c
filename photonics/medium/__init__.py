"""Transmission-matrix models of the scattering medium (DESIGN section 4).

``build_medium(config, seed)`` makes the model a :class:`~photonics.config.DeviceConfig`
asks for. All models share :class:`Medium`'s interface.
"""

from __future__ import annotations

import logging

from ..config import DENSE_LIMIT_BYTES, DeviceConfig
from ..rng import derive_seed
from .base import Medium, as_slice
from .gaussian import GaussianMedium

log = logging.getLogger(__name__)

__all__ = ["Medium", "GaussianMedium", "build_medium", "as_slice", "medium_seed"]


def medium_seed(config: DeviceConfig, device_seed: int) -> int:
    """The medium's seed: ``medium.seed`` if pinned, else derived from the device seed."""
    if config.medium.seed is not None:
        return config.medium.seed
    return derive_seed(device_seed, "medium")


def build_medium(config: DeviceConfig, device_seed: int) -> Medium:
    """Instantiate the medium described by ``config.medium`` for a device seeded ``device_seed``."""
    mc = config.medium
    seed = medium_seed(config, device_seed)
    if mc.storage == "auto":
        procedural = mc.n_in * mc.n_out * 8 > DENSE_LIMIT_BYTES
    else:
        procedural = mc.storage == "procedural"
    if mc.model == "gaussian":
        return GaussianMedium(
            mc.n_in, mc.n_out, seed, n_cols=config.n_modes_total, procedural=procedural, block_rows=mc.block_rows
        )
    raise NotImplementedError(mc.model)  # pragma: no cover - MediumConfig validates the model
