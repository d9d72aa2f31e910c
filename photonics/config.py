"""Device configuration: frozen, validated dataclasses, TOML load/save and shipped presets.

A :class:`DeviceConfig` composes

* :class:`LaserConfig`: coherent source (power on the DMD, wavelength),
* :class:`DMDConfig`: binary amplitude modulator (mirrors, macropixels, contrast, rate),
* :class:`SLMConfig`: phase-only modulator (LCoS), used instead of the DMD when
  ``modulator = "slm"``,
* :class:`MediumConfig`: the scattering medium and its transmission matrix (TM) model,
* :class:`CameraConfig`: the sensor (QE, noise, gain, ADC, exposure, rate),
* :class:`ReferenceConfig`: the reference block used for linear (holographic) projections,
* :class:`PowerConfig`: wall-plug power of the modelled hardware (energy figures only).

Every value is SI with the unit in the name. Configs are immutable; change them with
:meth:`DeviceConfig.replace` (dotted keys, e.g. ``{"camera.read_noise_e": 2.0}``).

Physical power model (documented once here, used by :mod:`photonics.device`):
the laser power ``power_w`` is spread uniformly over the ``n_mirrors`` mirrors of the DMD.
An input mode is a macropixel of ``macropixel**2`` mirrors, so an ON mode carries
``p_mode = power_w * fill_factor * macropixel**2 / n_mirrors`` [W]; an OFF mode leaks
``p_mode / contrast_ratio``. The medium maps input-mode amplitudes to camera-pixel fields with
``T`` (E|T_ij|^2 = 1 / n_in) and passes a fraction ``transmission`` of the input power to the
camera, so a pixel receives ``P_i = transmission * (n_in / n_out) * |sum_j T_ij a_j|^2`` [W].
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, FileFormatError
from .validation import check_choice, check_int, check_real

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

__all__ = [
    "LaserConfig",
    "DMDConfig",
    "MediumConfig",
    "SLMConfig",
    "CameraConfig",
    "ReferenceConfig",
    "PowerConfig",
    "DeviceConfig",
    "preset_names",
    "data_dir",
    "MEDIUM_MODELS",
    "MODULATORS",
    "LINEAR_SCHEMES",
    "square_shape",
]

MEDIUM_MODELS = ("gaussian", "speckle", "multislice", "measured", "fiber", "filtered-random")
#: Models whose transmission matrix can be regenerated block by block (procedural storage).
PROCEDURAL_MODELS = ("gaussian", "speckle")
MODULATORS = ("dmd", "slm")
STORAGE_MODES = ("auto", "dense", "procedural")
LINEAR_SCHEMES = ("exact", "strong-reference")
#: Dense TMs larger than this many bytes (complex64) are generated procedurally in "auto" mode.
DENSE_LIMIT_BYTES = 2 * 1024**3


class _Config:
    """Mixin: dict/JSON conversion of a (possibly nested) frozen dataclass."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, _Config):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = ""):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where or cls.__name__} must be a table/mapping (got {type(data).__name__})")
        names = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(repr(u) for u in unknown)} in {where or cls.__name__}; "
                f"allowed: {', '.join(sorted(names))}"
            )
        kwargs = {}
        for k, v in data.items():
            sub = _NESTED.get((cls.__name__, k))
            if sub is not None:
                v = sub.from_dict(v, where=f"{where + '.' if where else ''}{k}")
            elif isinstance(v, list):
                v = tuple(v)
            kwargs[k] = v
        try:
            return cls(**kwargs)
        except TypeError as exc:  # missing required argument
            raise ConfigError(f"{where or cls.__name__}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=_json_default)


def _json_default(v):
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    raise TypeError(type(v))


@dataclass(frozen=True)
class LaserConfig(_Config):
    """Coherent source.

    Parameters
    ----------
    power_w : float
        Optical power spread uniformly over the DMD [W], in (0, 1 kW] (an OPU runs on mW; the
        bound keeps every photon count of the chain finite).
    wavelength_m : float
        Vacuum wavelength [m], in [200 nm, 20 um].
    """

    power_w: float = 1.0e-3
    wavelength_m: float = 532e-9

    def __post_init__(self):
        check_real(self.power_w, "laser.power_w", low=0.0, low_inclusive=False, high=1.0e3, unit="W")
        check_real(self.wavelength_m, "laser.wavelength_m", low=200e-9, high=20e-6, unit="m")


@dataclass(frozen=True)
class DMDConfig(_Config):
    """Binary digital micromirror device (amplitude modulator, each mirror on or off).

    Parameters
    ----------
    shape : (int, int) or None
        Mirror array (rows, cols). ``None`` sizes the array to the inputs: exactly
        ``(n_in + n_reference) * macropixel**2`` mirrors are illuminated.
    macropixel : int
        Edge of a macropixel in mirrors; an input mode is macropixel x macropixel mirrors.
    contrast_ratio : float
        ON/OFF intensity ratio, > 1 (``inf`` = perfect contrast; at 1 an OFF mirror sends as
        much light as an ON one and nothing is modulated). An OFF mode leaks an
        amplitude ``1/sqrt(contrast_ratio)`` of an ON mode, with the same phase.
    frame_rate_hz : float
        Maximum binary pattern rate [Hz].
    fill_factor : float
        Fraction of the illuminated area that is reflecting mirror, in (0, 1].
    mirror_pitch_m : float
        Mirror pitch [m] (used by physical medium models).
    """

    shape: tuple[int, int] | None = None
    macropixel: int = 1
    contrast_ratio: float = math.inf
    frame_rate_hz: float = 22_000.0
    fill_factor: float = 1.0
    mirror_pitch_m: float = 13.7e-6

    def __post_init__(self):
        if self.shape is not None:
            if not (isinstance(self.shape, tuple) and len(self.shape) == 2):
                raise ConfigError(f"dmd.shape must be a pair (rows, cols) or omitted (got {self.shape!r})")
            for k, s in zip(("rows", "cols"), self.shape):
                check_int(s, f"dmd.shape {k}", low=1)
        check_int(self.macropixel, "dmd.macropixel", low=1, high=1024)
        check_real(self.contrast_ratio, "dmd.contrast_ratio", low=1.0, low_inclusive=False, allow_inf=True)
        check_real(self.frame_rate_hz, "dmd.frame_rate_hz", low=0.0, low_inclusive=False, unit="Hz")
        check_real(self.fill_factor, "dmd.fill_factor", low=0.0, high=1.0, low_inclusive=False)
        check_real(self.mirror_pitch_m, "dmd.mirror_pitch_m", low=0.0, low_inclusive=False, unit="m")

    @property
    def leak_amplitude(self) -> float:
        """Field amplitude of an OFF mode relative to an ON mode, 1/sqrt(contrast_ratio)."""
        return 0.0 if math.isinf(self.contrast_ratio) else 1.0 / math.sqrt(self.contrast_ratio)


def square_shape(n: int) -> tuple[int, int]:
    """The most square factorisation (rows, cols) of ``n`` with rows <= cols (a prime gives (1, n))."""
    n = int(n)
    r = int(math.isqrt(n))
    while r > 1 and n % r:
        r -= 1
    return (r, n // r)


@dataclass(frozen=True)
class MediumConfig(_Config):
    """Scattering medium and its transmission-matrix model.

    Parameters
    ----------
    model : str
        TM model (see :mod:`photonics.medium`): ``"gaussian"`` (i.i.d. circular Gaussian, the
        ideal), ``"speckle"`` (finite speckle grain: the Gaussian field low-pass filtered by a
        circular camera-plane pupil), ``"multislice"`` (beam propagation through a slab of
        random phase screens), ``"measured"`` (a TM loaded from a file: HDF5, .npy, .npz,
        .mat), ``"fiber"`` (a multimode fiber: guided modes, random mode coupling,
        mode-dependent loss; mode or pixel basis), ``"filtered-random"`` (a block of a Haar
        unitary on ``n_channels`` channels: quasi-unitary scattering with incomplete control).
    n_in : int or None
        Input modes (DMD macropixels) carrying the signal; ``None``: 1024, or, for a
        ``measured`` medium, read from the file (its inputs minus ``reference_indices``).
    n_out : int or None
        Camera pixels read out; ``None``: 1024, or, for ``measured``, read from the file.
    seed : int or None
        Seed of the medium's static disorder. ``None``: derived from the device seed, so
        ``OPU(config, seed=s)`` gives a different medium per ``s``; an int pins the medium.
    storage : str
        ``"dense"`` (complex64 matrix in memory), ``"procedural"`` (entries regenerated from
        (seed, row, col) block by block, never stored; models ``gaussian`` and ``speckle``)
        or ``"auto"`` (dense below 2 GiB).
    transmission : float
        Fraction of the input power that reaches the camera pixels, in (0, 1].
    block_rows : int
        Rows of T generated per block by the procedural medium; 0 (default) sizes blocks to
        about 64 MB (see :func:`photonics.medium.gaussian.auto_block_rows`).
    output_shape : (int, int) or None
        Camera image (rows, cols) of the n_out pixels, row-major; rows * cols must equal
        n_out. ``None``: the most square factorisation of n_out. Used by the spatial models
        (speckle, multislice) and by speckle statistics.
    grain_size_px : float
        ``speckle`` model: speckle grain size [camera pixels], >= 1, defined as the full
        width at half maximum of the intensity autocovariance along a pixel axis. 1 means
        uncorrelated pixels (the Gaussian TM).
    thickness_m : float or None
        ``multislice`` model: slab thickness L [m] (required).
    scattering_mean_free_path_m : float or None
        ``multislice`` model: scattering mean free path l_s [m] (required): the ballistic
        (unscattered) power fraction after the slab is exp(-L / l_s).
    refractive_index : float
        ``multislice`` model: background refractive index n0 of the slab, in [1, 5].
    screen_correlation_m : float or None
        ``multislice`` model: transverse correlation length of the random phase screens
        [m] (sets the single-scattering angle ~ lambda / (pi n0 l_c)); ``None``: 1.5 camera
        pixel pitches.
    n_slices : int or None
        ``multislice`` model: number of phase screens; ``None``: ceil(4 L / l_s) (phase
        variance per screen <= 1/4 rad^2), at least 1.
    grid_size : int or None
        ``multislice`` model: edge N of the square periodic simulation grid; ``None``: a
        power of two >= 4 x the larger of (oversampling x image edge) and the DMD mode array.
    grid_oversampling : int
        ``multislice`` model: grid points per camera pixel pitch (the camera samples every
        q-th grid point), 1..16; room for light scattered beyond the camera's sampling band.
    path : str or None
        ``measured`` model: file holding the TM (required): HDF5 (.h5, MATLAB v7.3), NumPy
        .npy / .npz or MATLAB .mat.
    dataset : str or None
        ``measured`` model: dataset / array / variable name in that file; ``None``:
        ``transmission_matrix`` or the only 2-D array in the file.
    input_axis : str or None
        ``measured`` model: which axis of the stored matrix holds the inputs, ``"columns"``
        (stored n_out x n_in, y = T x) or ``"rows"`` (stored n_in x n_out); ``None``: what the
        file declares (attribute / entry ``input_axis``; toolkit files: columns), else the
        sizes n_in / n_out if given, else columns for a non-square matrix; an undeclared
        square matrix is refused.
    reference_columns : str
        ``measured`` model: where the reference modes' columns come from when the device needs
        them: ``"auto"`` (the file's columns ``reference_indices`` if given, or the columns after
        the n_in signal ones if the file has them, else synthesised as ``"span"`` for a TM that
        is not i.i.d. Gaussian and ``"gaussian"`` for one that is), ``"file"``, ``"span"``
        (random superpositions of the signal columns: light the medium can carry) or
        ``"gaussian"`` (i.i.d. circular Gaussian columns with the measured row powers).
    reference_indices : tuple of int or None
        ``measured`` model: input indices in the file used as the reference columns (the
        other inputs are the signal, in file order).
    normalize : bool
        ``measured`` model: rescale to mean abs(T)^2 = 1/n_in (the device's power model); the
        factor and the file's absolute transmission are kept and reported. False keeps the
        file's numbers.
    output_basis : str
        ``"pixels"`` (rows are camera pixels of an image) or ``"modes"`` (rows are mode
        amplitudes: no image, pixel-grid statistics are skipped). ``fiber``: the basis of both
        sides (``"modes"``: n_in = n_out = the number of guided modes); ``measured``: what the
        file's rows are.
    n_channels : int or None
        ``filtered-random`` model: channels N of the Haar unitary (>= signal + reference
        columns and >= n_out); ``None``: 2 max(n_in + reference, n_out).
    absorption : float
        ``filtered-random`` model: uniform fraction of the power absorbed, in [0, 1).
    fiber_profile : str
        ``fiber`` model: ``"graded-index"`` (parabolic) or ``"step-index"``.
    core_radius_m : float
        ``fiber`` model: core radius [m].
    numerical_aperture : float
        ``fiber`` model: NA = sqrt(n_core^2 - n_cladding^2), in (0, core_index).
    core_index : float
        ``fiber`` model: core (axis) refractive index, in [1, 5].
    fiber_length_m : float
        ``fiber`` model: length [m].
    bend_curvature_rms_per_m : float
        ``fiber`` model: rms curvature of the random micro-bends along each axis [1/m]
        (couple neighbouring mode groups).
    deformation_rms : float
        ``fiber`` model: rms relative amplitude of the random core-boundary deformation
        (harmonics 0, 2, 3; couple modes within a group and groups two apart), in [0, 0.2].
    perturbation_correlation_m : float
        ``fiber`` model: correlation length of the perturbations along the fiber [m]; long
        correlation lengths couple only (near-)degenerate modes (weak coupling, TM
        block-diagonal by group), short ones every pair (strong coupling).
    mode_dependent_loss_db : float
        ``fiber`` model: extra loss of the worst-guided mode over the fiber [dB], >= 0.
    output_pixel_m : float or None
        ``fiber`` model (pixel basis): camera pixel size in the output-facet plane [m];
        ``None``: 2.1 core radii / the shorter image side (the whole core imaged).
    decorrelation_time_s : float or None
        Any model: if set, the medium drifts with device time (DriftingMedium): the
        correlation between T(0) and T(t) is exp(-t / decorrelation_time_s) [s].
    drift_model : str
        ``"auto"``: Gaussian innovations for i.i.d. media, a random unitary walk for
        quasi-unitary ones (``fiber``, ``filtered-random``, a ``measured`` TM whose ensemble is
        not i.i.d. Gaussian), which keeps their spectrum; ``"gaussian"`` or ``"unitary"``
        force one.
    drift_step_s : float or None
        Time step of the drift [s] (T is held constant within a step); ``None``:
        decorrelation_time_s / 100.
    """

    model: str = "gaussian"
    n_in: int | None = None
    n_out: int | None = None
    seed: int | None = None
    storage: str = "auto"
    transmission: float = 1.0
    block_rows: int = 0
    output_shape: tuple[int, int] | None = None
    grain_size_px: float = 1.0
    thickness_m: float | None = None
    scattering_mean_free_path_m: float | None = None
    refractive_index: float = 1.0
    screen_correlation_m: float | None = None
    n_slices: int | None = None
    grid_size: int | None = None
    grid_oversampling: int = 4
    path: str | None = None
    dataset: str | None = None
    input_axis: str | None = None
    reference_columns: str = "auto"
    reference_indices: tuple[int, ...] | None = None
    normalize: bool = True
    output_basis: str = "pixels"
    n_channels: int | None = None
    absorption: float = 0.0
    fiber_profile: str = "graded-index"
    core_radius_m: float = 25e-6
    numerical_aperture: float = 0.2
    core_index: float = 1.46
    fiber_length_m: float = 1.0
    bend_curvature_rms_per_m: float = 0.0
    deformation_rms: float = 0.0
    perturbation_correlation_m: float = 1e-3
    mode_dependent_loss_db: float = 0.0
    output_pixel_m: float | None = None
    decorrelation_time_s: float | None = None
    drift_step_s: float | None = None
    drift_model: str = "auto"

    def __post_init__(self):
        check_choice(self.model, "medium.model", MEDIUM_MODELS)
        self._check_model_fields()
        if self.n_in is None or self.n_out is None:
            self._resolve_sizes()
        check_int(self.n_in, "medium.n_in", low=1, high=2**31)
        check_int(self.n_out, "medium.n_out", low=1, high=2**31)
        if self.seed is not None:
            check_int(self.seed, "medium.seed", low=0, high=2**63 - 1)
        check_choice(self.storage, "medium.storage", STORAGE_MODES)
        if self.storage == "procedural" and self.model not in PROCEDURAL_MODELS:
            raise ConfigError(
                f"medium.storage 'procedural' is available for models {', '.join(repr(m) for m in PROCEDURAL_MODELS)} "
                f"only (got model {self.model!r}); use 'dense' or 'auto'"
            )
        check_real(self.transmission, "medium.transmission", low=0.0, high=1.0, low_inclusive=False)
        check_int(self.block_rows, "medium.block_rows", low=0, high=1 << 20)
        if self.output_shape is not None:
            if not (isinstance(self.output_shape, tuple) and len(self.output_shape) == 2):
                raise ConfigError(f"medium.output_shape must be a pair (rows, cols) or omitted (got {self.output_shape!r})")
            for k, v in zip(("rows", "cols"), self.output_shape):
                check_int(v, f"medium.output_shape {k}", low=1)
            if self.output_shape[0] * self.output_shape[1] != self.n_out:
                raise ConfigError(
                    f"medium.output_shape {tuple(self.output_shape)} holds {self.output_shape[0] * self.output_shape[1]} "
                    f"pixels but medium.n_out is {self.n_out}; rows * cols must equal n_out"
                )
        check_real(self.grain_size_px, "medium.grain_size_px", low=1.0, high=1024.0, unit="px")
        for name, high in (("thickness_m", 1.0), ("scattering_mean_free_path_m", 1.0), ("screen_correlation_m", 1.0)):
            v = getattr(self, name)
            if v is not None:
                check_real(v, f"medium.{name}", low=0.0, high=high, low_inclusive=False, unit="m")
        check_real(self.refractive_index, "medium.refractive_index", low=1.0, high=5.0)
        if self.n_slices is not None:
            check_int(self.n_slices, "medium.n_slices", low=1, high=100_000)
        if self.grid_size is not None:
            check_int(self.grid_size, "medium.grid_size", low=8, high=8192)
        check_int(self.grid_oversampling, "medium.grid_oversampling", low=1, high=16)
        if self.model == "multislice":
            for name in ("thickness_m", "scattering_mean_free_path_m"):
                if getattr(self, name) is None:
                    raise ConfigError(f"medium.{name} is required for model 'multislice' (a length in m, > 0)")
        for name in ("path", "dataset"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                raise ConfigError(f"medium.{name} must be a non-empty string (got {v!r})")
        if self.model == "measured" and self.path is None:
            raise ConfigError("medium.path is required for model 'measured' (a .h5/.npy/.npz/.mat file holding the TM)")
        if self.decorrelation_time_s is not None:
            check_real(self.decorrelation_time_s, "medium.decorrelation_time_s", low=0.0, low_inclusive=False, unit="s")
        if self.drift_step_s is not None:
            if self.decorrelation_time_s is None:
                raise ConfigError("medium.drift_step_s needs medium.decorrelation_time_s (the medium is static without it)")
            check_real(self.drift_step_s, "medium.drift_step_s", low=0.0, low_inclusive=False, unit="s")

    def _check_model_fields(self) -> None:
        """Validate the fields of the fiber, filtered-random and measured models."""
        if self.input_axis is not None:
            check_choice(self.input_axis, "medium.input_axis", ("columns", "rows"))
        check_choice(self.reference_columns, "medium.reference_columns", ("auto", "file", "span", "gaussian"))
        if self.reference_indices is not None:
            if not isinstance(self.reference_indices, tuple) or not self.reference_indices:
                raise ConfigError(f"medium.reference_indices must be a non-empty list of input indices (got {self.reference_indices!r})")
            for v in self.reference_indices:
                check_int(v, "medium.reference_indices entry", low=0)
            if len(set(self.reference_indices)) != len(self.reference_indices):
                raise ConfigError(f"medium.reference_indices has repeated indices ({list(self.reference_indices)})")
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"medium.normalize must be true or false (got {self.normalize!r})")
        check_choice(self.output_basis, "medium.output_basis", ("pixels", "modes"))
        if self.n_channels is not None:
            check_int(self.n_channels, "medium.n_channels", low=2, high=1 << 22)
        check_real(self.absorption, "medium.absorption", low=0.0, high=1.0, high_inclusive=False)
        check_choice(self.fiber_profile, "medium.fiber_profile", ("graded-index", "step-index"))
        check_real(self.core_radius_m, "medium.core_radius_m", low=0.0, high=1e-2, low_inclusive=False, unit="m")
        check_real(self.core_index, "medium.core_index", low=1.0, high=5.0)
        check_real(self.numerical_aperture, "medium.numerical_aperture", low=0.0, high=self.core_index, low_inclusive=False, high_inclusive=False)
        check_real(self.fiber_length_m, "medium.fiber_length_m", low=0.0, high=1e5, low_inclusive=False, unit="m")
        check_real(self.bend_curvature_rms_per_m, "medium.bend_curvature_rms_per_m", low=0.0, high=1e6, unit="1/m")
        check_real(self.deformation_rms, "medium.deformation_rms", low=0.0, high=0.2)
        check_real(self.perturbation_correlation_m, "medium.perturbation_correlation_m", low=0.0, high=1e3, low_inclusive=False, unit="m")
        check_real(self.mode_dependent_loss_db, "medium.mode_dependent_loss_db", low=0.0, high=100.0, unit="dB")
        if self.output_pixel_m is not None:
            check_real(self.output_pixel_m, "medium.output_pixel_m", low=0.0, high=1e-2, low_inclusive=False, unit="m")
        check_choice(self.drift_model, "medium.drift_model", ("auto", "gaussian", "unitary"))

    def _resolve_sizes(self) -> None:
        """Fill n_in / n_out left unset: 1024 each, or the measured file's sizes."""
        if self.model != "measured":
            for name in ("n_in", "n_out"):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, 1024)
            return
        if self.path is None:
            raise ConfigError("medium.path is required for model 'measured' (a .h5/.npy/.npz/.mat file holding the TM)")
        from .medium.tm_files import read_tm_header

        try:
            header = read_tm_header(self.path, self.dataset)
        except (FileNotFoundError, FileFormatError) as exc:
            raise ConfigError(f"medium.n_in / n_out are read from medium.path, which failed: {exc}") from None
        rows, cols = header.shape
        axis = self.input_axis or header.input_axis
        if axis is None:
            if rows == cols:
                raise ConfigError(
                    f"{self.path}: the stored transmission matrix is square ({rows} x {cols}) and nothing says which axis "
                    "holds the inputs: set medium.input_axis = 'columns' (stored n_out x n_in) or 'rows' (stored n_in x n_out)"
                )
            given = {k: v for k, v in (("n_in", self.n_in), ("n_out", self.n_out)) if v is not None}
            axis = "columns"
            if given and ("n_in" in given and given["n_in"] == rows or "n_out" in given and given["n_out"] == cols):
                axis = "rows"
        n_out, n_inputs = (rows, cols) if axis == "columns" else (cols, rows)
        n_ref = len(self.reference_indices) if self.reference_indices is not None else 0
        if self.n_out is None:
            object.__setattr__(self, "n_out", n_out)
        if self.n_in is None:
            object.__setattr__(self, "n_in", n_inputs - n_ref)
        object.__setattr__(self, "input_axis", axis)

    @property
    def image_shape(self) -> tuple[int, int]:
        """Camera image (rows, cols): ``output_shape`` or the most square factorisation of n_out."""
        return tuple(self.output_shape) if self.output_shape is not None else square_shape(self.n_out)

    @property
    def drifts(self) -> bool:
        """True when the medium evolves with device time (``decorrelation_time_s`` set)."""
        return self.decorrelation_time_s is not None


@dataclass(frozen=True)
class SLMConfig(_Config):
    """Phase-only spatial light modulator (LCoS), the alternative to the DMD (``modulator = "slm"``).

    A gray level g in [0, gray_levels) sets the phase phi = 2 pi g / gray_levels of a pixel.
    An input mode is a macropixel of ``macropixel**2`` pixels; the liquid crystal's fringing
    fields blur the phase map (Gaussian of standard deviation ``crosstalk_px`` pixels), and the
    inter-pixel gaps (a fraction 1 - fill_factor of the area) reflect unmodulated light. The
    complex amplitude of mode j is therefore (see :mod:`photonics.slm`)::

        a_j = A * (fill_factor * mean_{pixels p of j} exp(i (G_sigma * phi)(p)) + 1 - fill_factor)

    Parameters
    ----------
    shape : (int, int) or None
        Pixel array (rows, cols); ``None`` sizes it to the modes (a near-square array of
        macropixels).
    macropixel : int
        Edge of a macropixel in pixels.
    gray_levels : int
        Phase levels over 2 pi, 2..65536 (8-bit LCoS: 256).
    fill_factor : float
        Fraction of the area that is modulated pixel electrode, in (0, 1].
    crosstalk_px : float
        Standard deviation of the Gaussian blur of the phase map [pixels], >= 0 (0: none).
    frame_rate_hz : float
        Maximum pattern rate [Hz] (liquid crystals: tens to hundreds of Hz).
    pixel_pitch_m : float
        Pixel pitch [m].
    """

    shape: tuple[int, int] | None = None
    macropixel: int = 1
    gray_levels: int = 256
    fill_factor: float = 0.95
    crosstalk_px: float = 0.0
    frame_rate_hz: float = 200.0
    pixel_pitch_m: float = 8.0e-6

    def __post_init__(self):
        if self.shape is not None:
            if not (isinstance(self.shape, tuple) and len(self.shape) == 2):
                raise ConfigError(f"slm.shape must be a pair (rows, cols) or omitted (got {self.shape!r})")
            for k, v in zip(("rows", "cols"), self.shape):
                check_int(v, f"slm.shape {k}", low=1)
        check_int(self.macropixel, "slm.macropixel", low=1, high=1024)
        check_int(self.gray_levels, "slm.gray_levels", low=2, high=65536)
        check_real(self.fill_factor, "slm.fill_factor", low=0.0, high=1.0, low_inclusive=False)
        check_real(self.crosstalk_px, "slm.crosstalk_px", low=0.0, high=64.0, unit="px")
        check_real(self.frame_rate_hz, "slm.frame_rate_hz", low=0.0, low_inclusive=False, unit="Hz")
        check_real(self.pixel_pitch_m, "slm.pixel_pitch_m", low=0.0, low_inclusive=False, unit="m")


@dataclass(frozen=True)
class CameraConfig(_Config):
    """Camera sensor and ADC (EMVA 1288 vocabulary).

    The read-out of pixel i (see :mod:`photonics.camera`)::

        mu_e  = QE * g_i * P_i * exposure_s / (h c / lambda) + I_i * exposure_s
        e     = min(Poisson(mu_e), full_well_e) + N(0, read_noise_e^2)
        DN    = clip(round(e / gain_e_per_dn + black_level_dn + o_i), 0, 2**bit_depth - 1)

    with three static pixel maps: the relative gain g_i (mean 1, sd ``prnu``), the dark
    current I_i >= 0 (mean ``dark_current_e_per_s``, sd ``dark_current_sd_e_per_s``; its
    electrons are Poisson and scale with the exposure) and the electronic offset o_i (mean 0,
    sd ``offset_sd_dn``, either sign, independent of the exposure). ``pixel_maps`` loads
    measured maps instead (a digital twin).

    Parameters
    ----------
    quantum_efficiency : float
        Fraction of photons converted to electrons, in (0, 1].
    read_noise_e : float
        Read noise standard deviation [e-], >= 0.
    dark_current_e_per_s : float
        Dark current [e-/s], >= 0.
    gain_e_per_dn : float
        Conversion gain [e- per DN]; the EMVA system gain is K = 1/gain_e_per_dn [DN/e-].
    full_well_e : float
        Full-well capacity [e-].
    bit_depth : int
        ADC resolution [bits], 1..16.
    black_level_dn : float
        ADC offset added to every pixel [DN], so that dark noise is not clipped at zero.
    prnu : float
        Photo-response non-uniformity: standard deviation of the relative gain map g_i
        (mean 1, gamma-distributed so that g_i > 0), in [0, 0.5].
    dark_current_sd_e_per_s : float
        Dark-current non-uniformity: standard deviation of the per-pixel dark current I_i
        [e-/s], >= 0 (gamma-distributed, so I_i >= 0; needs ``dark_current_e_per_s`` > 0).
        Its part of the DSNU grows with the exposure: sd(I_i) * exposure_s [e-].
    offset_sd_dn : float
        Offset non-uniformity: standard deviation of the per-pixel electronic offset o_i
        added to the black level [DN], >= 0 (normal, either sign, independent of the exposure).
        EMVA 1288 DSNU at exposure t: sqrt((dark_current_sd_e_per_s t)^2 + (offset_sd_dn gain_e_per_dn)^2) [e-].
    pixel_maps : str or None
        HDF5 file of measured pixel maps (kind ``photonics.pixel_maps``: relative gain,
        dark current, offset; :func:`photonics.camera.write_pixel_maps`) used instead of
        drawing them; written by a digital twin. The scalars above then describe the maps.
    exposure_s : float
        Exposure time [s], > 0 and <= 1 / frame_rate_hz.
    frame_rate_hz : float
        Maximum frame rate [Hz].
    pixel_pitch_m : float
        Pixel pitch [m].
    shot_noise, clip_full_well, quantize : bool
        Switch the Poisson stage, the full-well clipping and the ADC (rounding + saturation).
        With ``quantize=False`` the output is the continuous DN value (float).
    """

    quantum_efficiency: float = 0.6
    read_noise_e: float = 5.0
    dark_current_e_per_s: float = 10.0
    gain_e_per_dn: float = 10.0
    full_well_e: float = 10_000.0
    bit_depth: int = 8
    black_level_dn: float = 8.0
    prnu: float = 0.01
    dark_current_sd_e_per_s: float = 3.0
    offset_sd_dn: float = 0.1
    exposure_s: float = 1.0e-3
    frame_rate_hz: float = 500.0
    pixel_pitch_m: float = 5.5e-6
    shot_noise: bool = True
    clip_full_well: bool = True
    quantize: bool = True
    pixel_maps: str | None = None

    #: Keys of older releases -> what replaced them (a clear error instead of "unknown key").
    REPLACED_KEYS = {
        "dsnu_e": "camera.dsnu_e (one dark-offset map in e-, clipped at zero) was replaced by two separate quantities: "
        "camera.dark_current_sd_e_per_s (dark-current non-uniformity [e-/s], Poisson, scales with the exposure) and "
        "camera.offset_sd_dn (electronic offset non-uniformity [DN], either sign, exposure-independent); "
        "the old dsnu_e = D e- at gain G e-/DN corresponds to offset_sd_dn = D / G",
    }

    @classmethod
    def from_dict(cls, data, where: str = ""):
        """As :meth:`_Config.from_dict`, with a clear error for keys of older releases."""
        if isinstance(data, Mapping):
            for key, why in cls.REPLACED_KEYS.items():
                if key in data:
                    raise ConfigError(f"{where + ': ' if where else ''}{why}")
        return super().from_dict(data, where=where)

    def __post_init__(self):
        check_real(self.quantum_efficiency, "camera.quantum_efficiency", low=0.0, high=1.0, low_inclusive=False)
        check_real(self.read_noise_e, "camera.read_noise_e", low=0.0, unit="e-")
        check_real(self.dark_current_e_per_s, "camera.dark_current_e_per_s", low=0.0, unit="e-/s")
        check_real(self.gain_e_per_dn, "camera.gain_e_per_dn", low=0.0, low_inclusive=False, unit="e-/DN")
        check_real(self.full_well_e, "camera.full_well_e", low=0.0, low_inclusive=False, unit="e-")
        check_int(self.bit_depth, "camera.bit_depth", low=1, high=16)
        check_real(self.black_level_dn, "camera.black_level_dn", low=0.0, unit="DN")
        if self.black_level_dn >= 2**self.bit_depth - 1:
            raise ConfigError(
                f"camera.black_level_dn must be < 2**bit_depth - 1 = {2**self.bit_depth - 1} DN (got {self.black_level_dn:g})"
            )
        check_real(self.prnu, "camera.prnu", low=0.0, high=0.5)
        check_real(self.dark_current_sd_e_per_s, "camera.dark_current_sd_e_per_s", low=0.0, unit="e-/s")
        if self.dark_current_sd_e_per_s > 0 and self.dark_current_e_per_s == 0:
            raise ConfigError(
                f"camera.dark_current_sd_e_per_s = {self.dark_current_sd_e_per_s:g} e-/s needs a mean dark current "
                "camera.dark_current_e_per_s > 0 (a dark current is >= 0 in every pixel); set it, or set the sd to 0"
            )
        check_real(self.offset_sd_dn, "camera.offset_sd_dn", low=0.0, high=float(2**self.bit_depth), unit="DN")
        if self.pixel_maps is not None and (not isinstance(self.pixel_maps, str) or not self.pixel_maps):
            raise ConfigError(f"camera.pixel_maps must be a non-empty path string or omitted (got {self.pixel_maps!r})")
        check_real(self.exposure_s, "camera.exposure_s", low=0.0, low_inclusive=False, unit="s")
        check_real(self.frame_rate_hz, "camera.frame_rate_hz", low=0.0, low_inclusive=False, unit="Hz")
        if self.exposure_s > 1.0 / self.frame_rate_hz * (1 + 1e-9):
            raise ConfigError(
                f"camera.exposure_s must be <= 1/camera.frame_rate_hz = {1.0 / self.frame_rate_hz:g} s "
                f"(got {self.exposure_s:g} s); lower the frame rate or the exposure"
            )
        check_real(self.pixel_pitch_m, "camera.pixel_pitch_m", low=0.0, low_inclusive=False, unit="m")
        for name in ("shot_noise", "clip_full_well", "quantize"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"camera.{name} must be true or false (got {getattr(self, name)!r})")

    @property
    def system_gain_dn_per_e(self) -> float:
        """EMVA overall system gain K = 1 / gain_e_per_dn [DN/e-]."""
        return 1.0 / self.gain_e_per_dn

    @property
    def max_dn(self) -> int:
        """Largest ADC code, 2**bit_depth - 1 [DN]."""
        return 2**self.bit_depth - 1

    @property
    def output_dtype(self):
        """dtype of raw frames: uint8 / uint16 when quantized, float32 otherwise."""
        import numpy as np

        if not self.quantize:
            return np.float32
        return np.uint8 if self.bit_depth <= 8 else np.uint16

    @property
    def saturation_e(self) -> float:
        """Electrons at which the output saturates: min(full well, ADC top) [e-]."""
        adc_top = (self.max_dn - self.black_level_dn) * self.gain_e_per_dn
        limits = []
        if self.quantize:
            limits.append(adc_top)
        if self.clip_full_well:
            limits.append(self.full_well_e)
        return min(limits) if limits else math.inf


@dataclass(frozen=True)
class ReferenceConfig(_Config):
    """Reference field for linear (holographic) projections, DESIGN section 5.

    A block of ``n_modes`` extra DMD modes, all ON, produces the reference field
    u = T_ref 1 on the camera. With I(x) the intensity for input x::

        exact (2 frames per input):  y = [I(x + r) - I(x) - Z] / (2 sqrt(Z)),  Z = I(r) - I(0)
        strong-reference (1 frame):  y = [I(x + r) - R] / (2 sqrt(R - D)),  R = I(r), D = dark

    The exact scheme is linear in x to machine precision; the strong-reference scheme carries
    an error |T x|^2 / (2 |u|), small when |u| >> |T x|.

    Parameters
    ----------
    scheme : str
        ``"exact"`` or ``"strong-reference"``.
    fraction : float
        Reference modes as a fraction of n_in: n_modes = ceil(fraction * n_in), in (0, 64].
    calibration_frames : int
        Frames averaged to measure Z (and R, D) once per calibration.
    min_level_fraction : float
        Floor of the per-pixel reference level, as a fraction of its median: the reference is
        a speckle, so some pixels see almost none of it (and leaking OFF mirrors can even make
        Z negative there); flooring Z at ``min_level_fraction * median(Z)`` bounds the noise
        gain of those pixels. In [0, 1).
    """

    scheme: str = "exact"
    fraction: float = 0.5
    calibration_frames: int = 16
    min_level_fraction: float = 0.05

    def __post_init__(self):
        check_choice(self.scheme, "reference.scheme", LINEAR_SCHEMES)
        check_real(self.fraction, "reference.fraction", low=0.0, high=64.0, low_inclusive=False)
        check_int(self.calibration_frames, "reference.calibration_frames", low=1, high=1 << 16)
        check_real(self.min_level_fraction, "reference.min_level_fraction", low=0.0, high=1.0, high_inclusive=False)

    def n_modes(self, n_in: int) -> int:
        """Number of reference modes for ``n_in`` signal modes."""
        return max(1, int(math.ceil(self.fraction * n_in)))


@dataclass(frozen=True)
class PowerConfig(_Config):
    """Electrical power of the whole modelled device (for energy figures, not for the physics).

    Parameters
    ----------
    electrical_power_w : float or None
        Wall-plug power of the device while projecting [W] (laser, DMD, camera, electronics,
        cooling). ``None`` when unknown: energy figures then cover the optical power only.
    """

    electrical_power_w: float | None = None

    def __post_init__(self):
        if self.electrical_power_w is not None:
            check_real(self.electrical_power_w, "power.electrical_power_w", low=0.0, low_inclusive=False, unit="W")


@dataclass(frozen=True)
class DeviceConfig(_Config):
    """A whole optical processing unit: laser -> modulator -> medium -> camera (+ reference).

    The modulator is the binary DMD (``modulator = "dmd"``, section ``dmd``) or a phase-only
    LCoS SLM (``modulator = "slm"``, section ``slm``).

    Build one from a preset (``DeviceConfig.preset("lab-cmos", n_in=4096, n_out=4096)``),
    a TOML file (``DeviceConfig.from_toml(path)``) or directly.
    """

    name: str = "custom"
    description: str = ""
    modulator: str = "dmd"
    laser: LaserConfig = field(default_factory=LaserConfig)
    dmd: DMDConfig = field(default_factory=DMDConfig)
    slm: SLMConfig = field(default_factory=SLMConfig)
    medium: MediumConfig = field(default_factory=MediumConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    power: PowerConfig = field(default_factory=PowerConfig)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a non-empty string (got {self.name!r})")
        if not isinstance(self.description, str):
            raise ConfigError(f"description must be a string (got {self.description!r})")
        check_choice(self.modulator, "modulator", MODULATORS)
        for fname, cls in (
            ("laser", LaserConfig),
            ("dmd", DMDConfig),
            ("slm", SLMConfig),
            ("medium", MediumConfig),
            ("camera", CameraConfig),
            ("reference", ReferenceConfig),
            ("power", PowerConfig),
        ):
            if not isinstance(getattr(self, fname), cls):
                raise ConfigError(f"{fname} must be a {cls.__name__} (got {type(getattr(self, fname)).__name__})")
        mod = self.modulator_config
        if mod.shape is not None:
            need = self.n_modes_total * mod.macropixel**2
            if need > self.n_mirrors:
                raise ConfigError(
                    f"{self.modulator}.shape {mod.shape} has {self.n_mirrors} pixels but the inputs need {need} "
                    f"((n_in={self.n_in} + n_reference={self.n_reference}) x macropixel^2={mod.macropixel**2}); "
                    f"enlarge {self.modulator}.shape, lower n_in, macropixel or reference.fraction, or omit {self.modulator}.shape"
                )

    # ---- derived quantities ----------------------------------------------------------------
    @property
    def modulator_config(self) -> "DMDConfig | SLMConfig":
        """The section of the modulator in use (``dmd`` or ``slm``)."""
        return self.slm if self.modulator == "slm" else self.dmd

    @property
    def n_in(self) -> int:
        """Signal input modes."""
        return self.medium.n_in

    @property
    def n_out(self) -> int:
        """Camera pixels."""
        return self.medium.n_out

    @property
    def n_reference(self) -> int:
        """Reference modes (extra DMD modes used by linear projections)."""
        return self.reference.n_modes(self.n_in)

    @property
    def n_modes_total(self) -> int:
        """Signal + reference input modes (columns of the full TM)."""
        return self.n_in + self.n_reference

    @property
    def n_mirrors(self) -> int:
        """Illuminated modulator pixels (DMD mirrors, or SLM pixels when ``modulator = "slm"``)."""
        mod = self.modulator_config
        if mod.shape is not None:
            return mod.shape[0] * mod.shape[1]
        return self.n_modes_total * mod.macropixel**2

    @property
    def mode_power_w(self) -> float:
        """Power of one ON input mode [W].

        DMD: P * fill_factor * macropixel^2 / n_mirrors (the gaps scatter light away).
        SLM: P * macropixel^2 / n_pixels (the gaps reflect too, unmodulated: see SLMConfig).
        """
        mod = self.modulator_config
        ff = self.dmd.fill_factor if self.modulator == "dmd" else 1.0
        return self.laser.power_w * ff * mod.macropixel**2 / self.n_mirrors

    @property
    def frame_rate_hz(self) -> float:
        """Device frame rate, min(modulator rate, camera rate) [Hz]."""
        return min(self.modulator_config.frame_rate_hz, self.camera.frame_rate_hz)

    @property
    def frame_period_s(self) -> float:
        """Device time per frame, 1 / frame_rate_hz [s]."""
        return 1.0 / self.frame_rate_hz

    def mean_pixel_power_w(self, density: float = 0.5, *, reference: bool = False) -> float:
        """Expected power on one camera pixel for inputs with a fraction ``density`` of ON modes [W].

        DMD: P = transmission * (n_in / n_out) * E|T a|^2 = transmission * sum_j p_j / n_out,
        with p_j the mode powers (OFF modes leak p_mode / contrast_ratio); the reference modes
        ON when ``reference`` (a frame of a linear projection), else OFF.
        SLM (``density`` and ``reference`` unused: every mode reflects): uniformly random phases
        give p_j = p_mode (ff^2 + (1 - ff)^2) for the signal modes, and the static reference
        modes p_mode each.
        """
        check_real(density, "density", low=0.0, high=1.0)
        p_on = self.mode_power_w
        if self.modulator == "slm":
            ff = self.slm.fill_factor
            total = p_on * (self.n_in * (ff**2 + (1 - ff) ** 2) + self.n_reference)
            return self.medium.transmission * total / self.n_out
        leak2 = self.dmd.leak_amplitude**2
        ref = 1.0 if reference else leak2
        total = p_on * (density * self.n_in + (1 - density) * self.n_in * leak2 + self.n_reference * ref)
        return self.medium.transmission * total / self.n_out

    # ---- modification ----------------------------------------------------------------------
    def replace(self, overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> "DeviceConfig":
        """A copy with some values changed.

        Keys are dotted paths (``"camera.read_noise_e"``) or use double underscores
        (``camera__read_noise_e=2.0``); ``n_in``, ``n_out`` and ``name`` are shortcuts.
        """
        items = dict(overrides or {})
        items.update(kwargs)
        data = self.to_dict()
        for key, value in items.items():
            path = key.replace("__", ".")
            if path in ("n_in", "n_out"):
                path = f"medium.{path}"
            parts = path.split(".")
            node = data
            for p in parts[:-1]:
                if p not in node or not isinstance(node[p], dict):
                    raise ConfigError(f"unknown config section {p!r} in override {key!r}")
                node = node[p]
            if parts[-1] not in node:
                raise ConfigError(f"unknown config key {path!r} in override; allowed keys of that section: {', '.join(sorted(node))}")
            node[parts[-1]] = list(value) if isinstance(value, tuple) else value
        return DeviceConfig.from_dict(data)

    # ---- TOML ---------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "DeviceConfig":
        """Load a device from a TOML file (sections laser, dmd, slm, medium, camera, reference, power)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"device file {str(path)!r} does not exist")
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise FileFormatError(f"{path}: not valid TOML ({exc})") from None
        for section, key in _FILE_KEYS:  # relative file names are relative to the TOML's folder
            value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
            if isinstance(value, str) and value and not Path(value).is_absolute():
                data[section][key] = str((path.parent / value).resolve())
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def to_toml(self, path: str | os.PathLike) -> Path:
        """Write this config as TOML (atomically: temporary file renamed into place).

        Files the device names (``camera.pixel_maps``, ``medium.path``) that lie in the TOML's
        folder or below are written relative to it, so the folder can be moved as a whole.
        """
        import tomli_w

        from .io import write_text_atomic

        path = Path(path)
        data = _drop_none(self.to_dict())
        folder = path.resolve().parent
        for section, key in _FILE_KEYS:
            value = data.get(section, {}).get(key)
            if isinstance(value, str) and Path(value).is_absolute():
                with contextlib.suppress(ValueError):
                    data[section][key] = str(Path(value).resolve().relative_to(folder))
        return write_text_atomic(path, tomli_w.dumps(data))

    @classmethod
    def from_json(cls, text: str) -> "DeviceConfig":
        """Inverse of :meth:`to_json` (used by HDF5 files, which store the config as JSON)."""
        try:
            data = json.loads(text, parse_constant=lambda c: math.inf if c == "Infinity" else c)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"stored device config is not valid JSON ({exc})") from None
        return cls.from_dict(_inf_from_json(data))

    # ---- presets ------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "DeviceConfig":
        """Load a shipped preset (``ideal``, ``lab-cmos``, ``lighton-like``) with overrides.

        Presets define a photon budget per camera pixel. When ``n_out`` is overridden and the
        laser power is not, the laser power is rescaled by n_out / n_out_preset so that each
        pixel keeps the preset's signal level (a lab re-adjusts illumination when it changes
        the camera region of interest); pass ``laser__power_w`` to pin the power instead.
        """
        return cls.from_toml(_preset_path(name)).with_overrides(overrides)

    def with_overrides(self, overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> "DeviceConfig":
        """:meth:`replace` for a device re-sized to its task: size changes keep the per-pixel budget.

        ``n_in`` / ``n_out`` (or ``medium.n_in`` / ``medium.n_out``) among the overrides go
        through :meth:`resized` (the laser power follows n_out) unless ``laser.power_w`` is
        among them too (pinned power); the other keys are applied as by :meth:`replace`.
        """
        over = {k.replace("__", "."): v for k, v in {**dict(overrides or {}), **kwargs}.items()}
        if "laser.power_w" in over:  # pinned power: no per-pixel rescaling
            return self.replace(over)
        size = {k.rpartition(".")[2]: over.pop(k) for k in ("n_in", "n_out", "medium.n_in", "medium.n_out") if k in over}
        cfg = self.replace(over) if over else self
        return cfg.resized(size.get("n_in"), size.get("n_out")) if size else cfg

    def resized(self, n_in: int | None = None, n_out: int | None = None) -> "DeviceConfig":
        """The same device with ``n_in`` signal modes and ``n_out`` camera pixels, same per-pixel photon budget.

        The one rule for the laser power when a device changes size: the power is scaled by
        n_out_new / n_out, so that each camera pixel keeps the same mean signal (the power per
        input mode spreads over the illuminated mirrors, so the pixel's signal does not depend
        on n_in; a lab re-adjusts its illumination when it changes the camera region of
        interest). ``None`` keeps a dimension. Used by :meth:`preset` and by every routine that
        sizes a device to its task.
        """
        n_in = self.n_in if n_in is None else n_in
        n_out = self.n_out if n_out is None else n_out
        if (n_in, n_out) == (self.n_in, self.n_out):
            return self
        over: dict[str, Any] = {"medium.n_in": n_in, "medium.n_out": n_out}
        if n_out != self.n_out:
            factor = n_out / self.n_out
            over["laser.power_w"] = self.laser.power_w * factor
            log.info("device %s: laser power rescaled by the n_out ratio %.4g to keep the per-pixel budget", self.name, factor)
        return self.replace(over)

    @classmethod
    def resolve(cls, spec: "str | os.PathLike | DeviceConfig", **overrides: Any) -> "DeviceConfig":
        """A DeviceConfig from a preset name, a TOML path, or an existing config, with
        :meth:`with_overrides` (a size change keeps the per-pixel photon budget)."""
        if isinstance(spec, DeviceConfig):
            return spec.with_overrides(overrides)
        s = str(spec)
        if s in preset_names():
            return cls.preset(s, **overrides)
        p = Path(s)
        if p.suffix.lower() == ".toml" or p.exists():
            return cls.from_toml(p).with_overrides(overrides)
        raise ConfigError(f"unknown device {s!r}: give a preset name ({', '.join(preset_names())}) or a TOML file path")


#: config entries that name files (resolved against a TOML's folder)
_FILE_KEYS = (("camera", "pixel_maps"), ("medium", "path"))


def _drop_none(d):
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    return d


def _inf_from_json(d):
    if isinstance(d, dict):
        return {k: _inf_from_json(v) for k, v in d.items()}
    if d == "inf":
        return math.inf
    return d


_NESTED = {
    ("DeviceConfig", "laser"): LaserConfig,
    ("DeviceConfig", "dmd"): DMDConfig,
    ("DeviceConfig", "slm"): SLMConfig,
    ("DeviceConfig", "medium"): MediumConfig,
    ("DeviceConfig", "camera"): CameraConfig,
    ("DeviceConfig", "reference"): ReferenceConfig,
    ("DeviceConfig", "power"): PowerConfig,
}


def data_dir() -> Path:
    """Folder of shipped data (device presets, sweep specs, model configs).

    ``$PHOTONICS_DATA_DIR`` if set, else the repository's ``data/`` (source or editable
    install), else ``<prefix>/share/photonics`` (wheel install).
    """
    env = os.environ.get("PHOTONICS_DATA_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1] / "data"
    if (repo / "devices").is_dir():
        return repo
    return Path(sys.prefix) / "share" / "photonics"


def preset_names() -> tuple[str, ...]:
    """Names of the shipped device presets."""
    d = data_dir() / "devices"
    return tuple(sorted(p.stem for p in d.glob("*.toml"))) if d.is_dir() else ()


def _preset_path(name: str) -> Path:
    names = preset_names()
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(names) or '(none found in ' + str(data_dir()) + ')'}")
    return data_dir() / "devices" / f"{name}.toml"
