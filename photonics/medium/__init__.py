"""Transmission-matrix models of the scattering medium (DESIGN section 4).

``build_medium(config, seed)`` makes the model a :class:`~photonics.config.DeviceConfig`
asks for. All models share :class:`Medium`'s interface:

* :class:`GaussianMedium`: i.i.d. CN(0, 1/n_in), dense or procedural (the ideal);
* :class:`SpeckleMedium`: finite speckle grain (circular camera-plane pupil), dense or
  procedural;
* :class:`MultiSliceMedium`: beam propagation through random phase screens (physical, small
  sizes, dense);
* :class:`MeasuredMedium`: a TM loaded from HDF5 (dense);
* :class:`DriftingMedium`: wraps any of them; T decorrelates with device time as
  exp(-t / decorrelation_time_s) (``medium.decorrelation_time_s``).
"""

from __future__ import annotations

import logging

from ..config import DENSE_LIMIT_BYTES, DeviceConfig
from ..errors import ConfigError, ValidationError
from ..rng import derive_seed
from .base import Medium, as_slice
from .dense import DenseMedium
from .drifting import DriftingMedium
from .gaussian import GaussianMedium
from .measured import MeasuredMedium, load_transmission_matrix, save_transmission_matrix
from .multislice import MultiSliceMedium
from photonics.medium.speckle_grain import SpeckleMedium

log = logging.getLogger(__name__)

__all__ = [
    "Medium",
    "DenseMedium",
    "GaussianMedium",
    "SpeckleMedium",
    "MultiSliceMedium",
    "MeasuredMedium",
    "DriftingMedium",
    "build_medium",
    "as_slice",
    "medium_seed",
    "load_transmission_matrix",
    "save_transmission_matrix",
]


def medium_seed(config: DeviceConfig, device_seed: int) -> int:
    """The medium's seed: ``medium.seed`` if pinned, else derived from the device seed."""
    if config.medium.seed is not None:
        return config.medium.seed
    return derive_seed(device_seed, "medium")


def _static_medium(config: DeviceConfig, seed: int, progress: bool) -> Medium:
    mc = config.medium
    n_cols = config.n_modes_total
    if mc.storage == "auto":
        procedural = mc.n_in * mc.n_out * 8 > DENSE_LIMIT_BYTES
    else:
        procedural = mc.storage == "procedural"
    if mc.model == "gaussian":
        return GaussianMedium(mc.n_in, mc.n_out, seed, n_cols=n_cols, procedural=procedural, block_rows=mc.block_rows)
    if mc.model == "speckle":
        return SpeckleMedium(
            mc.n_in,
            mc.n_out,
            seed,
            grain_size_px=mc.grain_size_px,
            image_shape=mc.image_shape,
            n_cols=n_cols,
            procedural=procedural,
            block_rows=mc.block_rows,
        )
    if mc.model == "multislice":
        return MultiSliceMedium(
            mc.n_in,
            mc.n_out,
            seed,
            wavelength_m=config.laser.wavelength_m,
            pixel_pitch_m=config.camera.pixel_pitch_m,
            thickness_m=mc.thickness_m,
            scattering_mean_free_path_m=mc.scattering_mean_free_path_m,
            refractive_index=mc.refractive_index,
            screen_correlation_m=mc.screen_correlation_m,
            n_slices=mc.n_slices,
            grid_size=mc.grid_size,
            image_shape=mc.image_shape,
            n_cols=n_cols,
            oversampling=mc.grid_oversampling,
            progress=progress,
        )
    if mc.model == "measured":
        tm, meta = load_transmission_matrix(mc.path, mc.dataset)
        rows, cols = tm.shape
        if rows != mc.n_out:
            raise ConfigError(
                f"{mc.path}: the transmission matrix has {rows} rows (camera pixels) but medium.n_out is {mc.n_out}"
            )
        if cols != mc.n_in and cols < n_cols:
            raise ConfigError(
                f"{mc.path}: the transmission matrix has {cols} columns; the device needs n_in={mc.n_in} signal columns "
                f"(+ {config.n_reference} reference columns, drawn synthetic when the file has exactly n_in columns): "
                f"set medium.n_in={cols}, or give a file with >= {n_cols} columns"
            )
        try:
            med = MeasuredMedium(tm, mc.n_in, n_cols=n_cols, seed=seed, source=f"{mc.path}:{meta['dataset']}")
        except ValidationError as exc:
            raise ConfigError(f"{mc.path}: {exc}") from None
        med.meta = meta
        return med
    raise NotImplementedError(mc.model)  # pragma: no cover - MediumConfig validates the model


def build_medium(config: DeviceConfig, device_seed: int, *, progress: bool = False) -> Medium:
    """Instantiate the medium described by ``config.medium`` for a device seeded ``device_seed``.

    With ``medium.decorrelation_time_s`` set, the model is wrapped in a
    :class:`DriftingMedium` whose innovations are seeded from the medium's seed.
    """
    mc = config.medium
    seed = medium_seed(config, device_seed)
    med = _static_medium(config, seed, progress)
    if mc.decorrelation_time_s is not None:
        med = DriftingMedium(med, mc.decorrelation_time_s, derive_seed(seed, "drift"), step_s=mc.drift_step_s)
    return med
