"""Transmission-matrix models of the scattering medium (DESIGN section 4).

``build_medium(config, seed)`` makes the model a :class:`~photonics.config.DeviceConfig`
asks for. All models share :class:`Medium`'s interface:

* :class:`GaussianMedium`: i.i.d. CN(0, 1/n_in), dense or procedural (the ideal);
* :class:`SpeckleMedium`: finite speckle grain (circular camera-plane pupil), dense or
  procedural;
* :class:`MultiSliceMedium`: beam propagation through random phase screens (physical, small
  sizes, dense);
* :class:`MeasuredMedium`: a TM loaded from a file (HDF5, .npy, .npz, .mat; dense);
* :class:`MultimodeFiberMedium`: a multimode fiber (guided modes, random mode coupling,
  mode-dependent loss), in the mode or the camera's pixel basis (dense);
* :class:`FilteredRandomMedium`: a block of a Haar unitary (quasi-unitary scattering with
  incomplete channel control; dense);
* :class:`DriftingMedium`: wraps any of them; T decorrelates with device time as
  exp(-t / decorrelation_time_s) (``medium.decorrelation_time_s``), by Gaussian innovations
  (i.i.d. media) or a random unitary walk (quasi-unitary media, which stay quasi-unitary).
"""

from __future__ import annotations

import logging

from photonics.medium.speckle_grain import SpeckleMedium

from ..config import DENSE_LIMIT_BYTES, DeviceConfig
from ..errors import ConfigError, FileFormatError, ValidationError
from ..rng import derive_seed
from .base import Medium, as_slice
from .dense import DenseMedium
from .drifting import DriftingMedium
from .fiber import MultimodeFiberMedium
from .filtered_random import FilteredRandomMedium
from .gaussian import GaussianMedium
from .measured import MeasuredMedium, load_transmission_matrix, read_constant_field, save_transmission_matrix
from .multislice import MultiSliceMedium

log = logging.getLogger(__name__)

__all__ = [
    "Medium",
    "DenseMedium",
    "GaussianMedium",
    "SpeckleMedium",
    "MultiSliceMedium",
    "MeasuredMedium",
    "DriftingMedium",
    "MultimodeFiberMedium",
    "FilteredRandomMedium",
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
        return _measured_medium(config, seed)
    if mc.model == "fiber":
        try:
            return MultimodeFiberMedium(
                mc.n_in,
                mc.n_out,
                seed,
                wavelength_m=config.laser.wavelength_m,
                profile=mc.fiber_profile,
                core_radius_m=mc.core_radius_m,
                numerical_aperture=mc.numerical_aperture,
                core_index=mc.core_index,
                length_m=mc.fiber_length_m,
                bend_curvature_rms_per_m=mc.bend_curvature_rms_per_m,
                deformation_rms=mc.deformation_rms,
                correlation_length_m=mc.perturbation_correlation_m,
                mode_dependent_loss_db=mc.mode_dependent_loss_db,
                basis=mc.output_basis,
                image_shape=mc.image_shape if mc.output_basis == "pixels" else None,
                output_pixel_m=mc.output_pixel_m,
                n_cols=n_cols,
            )
        except ValidationError as exc:
            raise ConfigError(f"medium (model 'fiber'): {exc}") from None
    if mc.model == "filtered-random":
        n_ch = mc.n_channels if mc.n_channels is not None else 2 * max(n_cols, mc.n_out)
        try:
            return FilteredRandomMedium(mc.n_in, mc.n_out, seed, n_channels=n_ch, absorption=mc.absorption, n_cols=n_cols)
        except ValidationError as exc:
            raise ConfigError(f"medium (model 'filtered-random'): {exc}") from None
    raise NotImplementedError(mc.model)  # pragma: no cover - MediumConfig validates the model


def _measured_medium(config: DeviceConfig, seed: int) -> MeasuredMedium:
    """The ``measured`` model: load, orient, check sizes, attach reference columns."""
    mc = config.medium
    n_cols = config.n_modes_total
    try:
        tm, meta = load_transmission_matrix(mc.path, mc.dataset, input_axis=mc.input_axis)
    except ValidationError as exc:
        raise ConfigError(f"{mc.path}: {exc}") from None
    rows, cols = tm.shape
    if rows != mc.n_out:
        raise ConfigError(
            f"{mc.path}: the transmission matrix has {rows} rows (outputs, input axis {meta['input_axis']}) but medium.n_out is {mc.n_out}"
        )
    n_ref = config.n_reference
    if mc.reference_indices is None and cols != mc.n_in and cols < n_cols:
        raise ConfigError(
            f"{mc.path}: the transmission matrix has {cols} inputs; the device needs n_in={mc.n_in} signal columns "
            f"(+ {n_ref} reference columns, synthesised when the file has exactly n_in inputs, or named by "
            f"medium.reference_indices): set medium.n_in={cols}, or give a file with >= {n_cols} inputs"
        )
    try:
        med = MeasuredMedium(
            tm,
            mc.n_in,
            n_cols=n_cols,
            normalize=mc.normalize,
            seed=seed,
            source=f"{mc.path}:{meta['dataset']}",
            reference_columns=mc.reference_columns,
            reference_indices=mc.reference_indices,
            output_basis=mc.output_basis,
            constant_field=read_constant_field(mc.path, rows),
        )
    except (ValidationError, FileFormatError) as exc:
        raise ConfigError(f"{mc.path}: {exc}") from None
    med.meta = meta
    log.info(
        "measured TM %s: %d x %d (inputs along the stored %s, %s), scale %.4g, reference columns: %s",
        med.source, med.n_out, med.n_in, meta["input_axis"], meta["input_axis_source"], med.scale, med.reference_columns,
    )
    return med


def build_medium(config: DeviceConfig, device_seed: int, *, progress: bool = False) -> Medium:
    """Instantiate the medium described by ``config.medium`` for a device seeded ``device_seed``.

    With ``medium.decorrelation_time_s`` set, the model is wrapped in a
    :class:`DriftingMedium` (``medium.drift_model``) whose steps are seeded from the medium's
    seed.
    """
    mc = config.medium
    seed = medium_seed(config, device_seed)
    med = _static_medium(config, seed, progress)
    if mc.decorrelation_time_s is not None:
        try:
            med = DriftingMedium(med, mc.decorrelation_time_s, derive_seed(seed, "drift"), step_s=mc.drift_step_s, model=mc.drift_model)
        except ValidationError as exc:
            raise ConfigError(f"medium.drift_model: {exc}") from None
    return med
