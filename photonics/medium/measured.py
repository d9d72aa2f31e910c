"""A transmission matrix loaded from a file (a lab measurement or an earlier run).

Files: HDF5 (``.h5``, MATLAB v7.3 ``.mat``), NumPy ``.npy`` / ``.npz`` and MATLAB v4-7.2
``.mat`` (see :mod:`photonics.medium.tm_files` for the layouts and how the array is chosen).
The matrix is validated (2-D, numeric, finite, not all zero).

Orientation: the TM maps inputs to outputs. ``input_axis`` says which stored axis holds the
inputs: ``"columns"`` (stored n_out x n_in, the toolkit's layout) or ``"rows"``; undeclared,
it comes from the file (an ``input_axis`` attribute or entry; toolkit files: columns), then
from the sizes asked for (n_in / n_out), then columns for a non-square matrix. A square matrix
with nothing declaring its axes is refused (a transposed TM is a different medium).

Scale: by default the matrix is rescaled so that its signal block has mean |T_ij|^2 = 1/n_in
(the normalisation of every medium, behind the device's power model). The absolute scale is
kept: ``scale`` (the factor applied), ``absolute_rms`` (root mean |T_ij|^2 in the file's
units, finite for any finite matrix), ``absolute_mean_abs2`` (mean |T_ij|^2 in the file's
units) and ``absolute_transmission`` (mean over signal inputs of sum_i |T_ij|^2: the fraction
of an input's power reaching the outputs, if the file holds field-amplitude ratios);
:meth:`MeasuredMedium.absolute_matrix` returns the file's numbers; ``normalize=False`` keeps
them in the medium itself.

Reference columns (the reference block of the linear schemes needs their columns):

* ``reference_indices``: inputs of the file used as the reference (the others are the signal);
* else, if the file has more inputs than n_in: the inputs after the n_in signal ones;
* else synthesised (``reference_columns``): ``"span"``, random superpositions of the signal
  columns, T W with W i.i.d. CN(0, 1/n_in) (each row keeps its mean power; the reference is
  light the medium can carry: right for a fiber or any channel-limited medium), or
  ``"gaussian"``, i.i.d. circular Gaussian columns with each row's measured mean power (right
  for an i.i.d. medium: new DMD pixels see new, independent speckle). ``"auto"`` asks the
  ensemble verdict (:func:`photonics.ensembles.ensemble_verdict`) of the signal block:
  ``"gaussian"`` for an i.i.d. Gaussian TM, ``"span"`` otherwise. What was done is stated in
  :meth:`MeasuredMedium.describe`.

Drift: a measured TM factors as T = U_s (Sigma V^H) (SVD), so it can drift by a unitary walk
on its singular channels (:class:`~photonics.medium.DriftingMedium`), keeping its singular
values; ``prefers_unitary_drift`` is True unless the TM is i.i.d. Gaussian.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import kernels
from ..errors import FileFormatError, ValidationError
from ..rng import generator, stream_key
from ..validation import check_choice, check_int
from .dense import DenseMedium, check_dense_size, split_layout
from .tm_files import DEFAULT_DATASET, INPUT_AXES, read_tm_array, read_tm_header

log = logging.getLogger(__name__)

__all__ = ["MeasuredMedium", "load_transmission_matrix", "save_transmission_matrix", "TM_KIND", "REFERENCE_SOURCES"]

#: ``kind`` of the files written by :func:`save_transmission_matrix`.
TM_KIND = "photonics.tm"
_DEFAULT_DATASET = DEFAULT_DATASET
#: Dataset of the measured all-OFF field (optional, HDF5 files of this toolkit).
CONSTANT_FIELD_DATASET = "constant_field"
#: How reference columns are obtained.
REFERENCE_SOURCES = ("auto", "file", "span", "gaussian")


def save_transmission_matrix(
    path: str | os.PathLike,
    tm,
    *,
    config=None,
    seed: int | None = None,
    attrs: dict[str, Any] | None = None,
    constant_field=None,
) -> Path:
    """Write a TM (n_out x n_cols, complex) to HDF5 atomically, with the toolkit's metadata.

    Parameters
    ----------
    path : path
        Destination ``.h5`` file.
    tm : array (n_out, n_cols)
        The matrix (complex; real arrays are stored as complex).
    config : DeviceConfig, optional
        Device it belongs to (stored as JSON).
    seed : int, optional
        Seed it was generated with, if any.
    attrs : dict, optional
        Extra root attributes (e.g. how it was measured).
    constant_field : complex array (n_out,), optional
        The measured field with every DMD mirror OFF (reference OFF), in the matrix's units per
        ON mirror (dataset ``constant_field``): a device loading the file uses it instead of
        modelling the leak of the OFF mirrors.
    """
    from ..io import atomic_h5
    from ..validation import as_float_array

    t = as_float_array(tm, "tm", dtype=np.float64, allow_complex=True)
    if t.ndim != 2:
        raise ValidationError(f"tm must be a 2-D matrix (n_out, n_cols) (got shape {t.shape})")
    t = t.astype(np.complex64 if t.dtype in (np.float32, np.complex64) else np.complex128)
    cf = None
    if constant_field is not None:
        cf = as_float_array(constant_field, "constant_field", dtype=np.float64, allow_complex=True).astype(np.complex128).ravel()
        if cf.shape != (t.shape[0],):
            raise ValidationError(f"constant_field must hold one value per output row ({t.shape[0]}) (got {cf.size})")
    with atomic_h5(path, TM_KIND, config=config, seed=seed) as fh:
        if cf is not None:
            c_ds = fh.create_dataset(CONSTANT_FIELD_DATASET, data=cf)
            c_ds.attrs["unit"] = "the matrix's units (field per ON mirror): field of the all-OFF DMD frame, reference OFF"
        ds = fh.create_dataset(_DEFAULT_DATASET, data=t, compression="gzip", compression_opts=1)
        ds.attrs["unit"] = "1 (field amplitude ratio)"
        ds.attrs["layout"] = "rows = camera pixels (row-major image), cols = input modes (signal, then reference)"
        for k, v in (attrs or {}).items():
            fh.attrs[k] = v
    return Path(path)


def load_transmission_matrix(
    path: str | os.PathLike, dataset: str | None = None, *, input_axis: str | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read and validate a TM from a file, oriented as n_out x n_inputs (inputs = columns).

    Parameters
    ----------
    path : path
        HDF5, .npy, .npz or .mat file.
    dataset : str, optional
        Dataset / array / variable name.
    input_axis : str, optional
        ``"columns"`` or ``"rows"``: overrides what the file declares. A square matrix with
        no declaration at all is refused.

    Returns
    -------
    tm : ndarray (n_out, n_inputs), complex128 (or as stored)
    meta : dict
        ``dataset``, ``format``, ``kind`` (None for foreign files), ``input_axis`` (used) and
        ``input_axis_source`` (``"declared"``, ``"file"``, ``"shape"``), ``stored_shape``,
        ``seed`` and ``config`` (DeviceConfig) when stored, and the remaining root attributes.

    Raises
    ------
    FileNotFoundError
        No such file.
    FileFormatError
        Unreadable, no suitable dataset, wrong shape or dtype, NaN/inf entries, all zero,
        unsupported schema of a toolkit file, undeclared square matrix.
    """
    from ..io import SCHEMA_VERSION
    from ..records import stored_device_config

    header = read_tm_header(path, dataset)
    path = header.path
    if header.format == "hdf5":
        import h5py

        with h5py.File(path, "r") as fh:
            kind = fh.attrs.get("kind")
            if isinstance(kind, bytes):
                kind = kind.decode()
            if isinstance(kind, str) and kind.startswith("photonics."):
                schema = int(fh.attrs.get("schema", -1))
                if schema != SCHEMA_VERSION:
                    raise FileFormatError(f"{path}: schema version {schema} is not supported (this version reads {SCHEMA_VERSION})")
            config = stored_device_config(fh, path) if "config" in fh.attrs else None
    else:
        kind, config = None, None
    check_dense_size(header.shape[0], header.shape[1], f"{path}: {header.dataset!r}")
    if input_axis is not None:
        axis = check_choice(input_axis, "input_axis", INPUT_AXES, error=ValidationError)
        source = "declared"
    elif header.input_axis is not None:
        axis, source = header.input_axis, "file"
    elif header.shape[0] != header.shape[1]:
        axis, source = "columns", "shape"
    else:
        raise FileFormatError(
            f"{path}: the stored transmission matrix is square ({header.shape[0]} x {header.shape[1]}) and nothing says which "
            "axis holds the inputs: declare input_axis='columns' (stored n_out x n_in) or 'rows' (stored n_in x n_out)"
        )
    tm, attrs = read_tm_array(header)
    name = header.dataset
    if min(tm.shape) < 1:
        raise FileFormatError(f"{path}: {name!r} is empty (shape {tm.shape})")
    finite = np.isfinite(tm)
    if not finite.all():
        bad = int(tm.size - np.count_nonzero(finite))
        raise FileFormatError(f"{path}: dataset {name!r} has {bad} NaN or infinite entr{'y' if bad == 1 else 'ies'}; a TM must be finite")
    if not np.any(tm):
        raise FileFormatError(f"{path}: dataset {name!r} is all zero")
    if axis == "rows":
        tm = tm.T
    meta: dict[str, Any] = {"dataset": name, "format": header.format, "kind": kind, "input_axis": axis,
                            "input_axis_source": source, "stored_shape": list(header.shape)}
    for k, v in attrs.items():
        if k in ("config", "kind"):
            continue
        meta[k] = v
    meta["config"] = config
    return tm, meta


def read_constant_field(path: str | os.PathLike, n_out: int) -> np.ndarray | None:
    """The measured all-OFF field stored beside a TM (HDF5 dataset ``constant_field``), or None."""
    from .tm_files import file_format

    p = Path(path)
    if file_format(p) != "hdf5":
        return None
    import h5py

    with h5py.File(p, "r") as fh:
        if CONSTANT_FIELD_DATASET not in fh or CONSTANT_FIELD_DATASET == _DEFAULT_DATASET:
            return None
        cf = np.asarray(fh[CONSTANT_FIELD_DATASET][()])
    if cf.dtype.kind not in "fc" or cf.shape != (n_out,) or not np.all(np.isfinite(cf)):
        raise FileFormatError(f"{p}: dataset {CONSTANT_FIELD_DATASET!r} must be {n_out} finite numbers, one per output row "
                              f"(got shape {cf.shape}, dtype {cf.dtype})")
    return cf.astype(np.complex128)


class MeasuredMedium(DenseMedium):
    """A medium whose TM comes from a file or an array (see the module docstring).

    Parameters
    ----------
    tm : array (n_out, n_inputs), complex
        The matrix, inputs along the columns (see :meth:`from_file` for files).
    n_in : int, optional
        Signal columns (default: every input not used as reference).
    n_cols : int, optional
        Columns the device needs (signal + reference); default n_in + the reference inputs.
    normalize : bool
        Rescale so that the signal block has mean |T_ij|^2 = 1/n_in (factor in ``scale``).
    seed : int
        Seed of synthetic reference columns, if any.
    source : str
        Where the matrix came from (for ``describe``).
    reference_columns : str
        ``"auto"``, ``"file"``, ``"span"`` or ``"gaussian"`` (module docstring).
    reference_indices : sequence of int, optional
        Inputs of ``tm`` used as the reference columns.
    output_basis : str
        ``"pixels"`` or ``"modes"`` (rows are mode amplitudes: no image).
    constant_field : complex array (n_out,), optional
        Measured all-OFF field in the matrix's units (:func:`save_transmission_matrix`); kept,
        with the matrix's normalisation applied, as ``recorded_constant_field``.
    """

    def __init__(
        self,
        tm,
        n_in: int | None = None,
        *,
        n_cols: int | None = None,
        normalize: bool = True,
        seed: int = 0,
        source: str = "array",
        reference_columns: str = "auto",
        reference_indices=None,
        output_basis: str = "pixels",
        constant_field=None,
    ):
        from ..validation import as_float_array

        t = as_float_array(tm, "tm", dtype=np.float64, allow_complex=True)
        if t.ndim != 2:
            raise ValidationError(f"tm must be a 2-D matrix (n_out, n_cols) (got shape {t.shape})")
        if not np.any(t):
            raise ValidationError("tm is all zero")
        # work in units of the largest |entry| (scale-safe: entries of 1e200 or 1e-200 neither
        # overflow nor vanish in the squares below); the absolute scale is restored in `scale`
        peak = float(np.max(np.abs(t)))
        t = t / peak
        ref_mode = check_choice(reference_columns, "reference_columns", REFERENCE_SOURCES, error=ValidationError)
        self.output_basis = check_choice(output_basis, "output_basis", ("pixels", "modes"), error=ValidationError)
        n_out, have = t.shape
        self.source = str(source)
        self.seed = int(seed)
        self.reference_indices: list[int] | None = None
        self._verdict = None
        if reference_indices is not None:
            idx = [check_int(int(v), "reference_indices entry", low=0, high=have - 1, error=ValidationError) for v in reference_indices]
            if len(set(idx)) != len(idx):
                raise ValidationError(f"reference_indices has repeated entries ({idx})")
            signal_idx = [j for j in range(have) if j not in set(idx)]
            if not signal_idx:
                raise ValidationError(f"reference_indices take all {have} inputs; at least one must carry the signal")
            n_in = len(signal_idx) if n_in is None else check_int(n_in, "n_in", low=1, high=len(signal_idx), error=ValidationError)
            need = n_in + len(idx) if n_cols is None else check_int(n_cols, "n_cols", low=n_in, error=ValidationError)
            if need - n_in != len(idx):
                raise ValidationError(
                    f"the device needs {need - n_in} reference columns but reference_indices names {len(idx)}; "
                    f"name {need - n_in} inputs or change reference.fraction"
                )
            full = np.concatenate([t[:, signal_idx[:n_in]], t[:, idx]], axis=1)
            self.reference_columns = "file"
            self.reference_indices = idx
        else:
            n_in = have if n_in is None else check_int(n_in, "n_in", low=1, high=have, error=ValidationError)
            need = have if n_cols is None else check_int(n_cols, "n_cols", low=n_in, error=ValidationError)
            if need <= have:
                full = t[:, :need]
                self.reference_columns = "file" if need > n_in else "none"
            elif have == n_in and ref_mode != "file":
                check_dense_size(n_out, need, "MeasuredMedium")
                if ref_mode == "auto":
                    ref_mode = "gaussian" if self.verdict_of(t).verdict == "iid-gaussian" else "span"
                full = np.concatenate([t, self._synthetic(t, need - n_in, ref_mode)], axis=1)
                self.reference_columns = ref_mode
                log.info("measured TM has no reference columns: drew %d %s reference columns", need - n_in, ref_mode)
            else:
                raise ValidationError(
                    f"the matrix has {have} columns: fewer than the {need} needed (n_in={n_in} signal + {need - n_in} reference) "
                    + ("and reference_columns='file' asks for the file's own; " if ref_mode == "file" and have == n_in else "but more than n_in; ")
                    + f"give exactly n_in={have} signal columns (reference synthesised), all {need}, or name the reference inputs (reference_indices)"
                )
        p_unit = float(np.mean(np.abs(full[:, :n_in]) ** 2))  # mean |T_ij|^2 in units of peak^2
        if not p_unit > 0:
            raise ValidationError(f"the {n_in} signal columns of tm are all zero; nothing reaches the camera from the inputs")
        dead = np.flatnonzero(~np.any(full[:, :n_in], axis=0))
        if dead.size:
            log.warning("measured TM: %d signal input(s) reach no output (all-zero columns, e.g. %s)", dead.size, dead[:5].tolist())
        with np.errstate(over="ignore"):  # an absurd absolute scale is reported as inf, never used
            self.absolute_mean_abs2 = p_unit * peak * peak
            self.absolute_transmission = float(np.mean(np.sum(np.abs(full[:, :n_in]) ** 2, axis=0))) * peak * peak
        self.absolute_rms = math.sqrt(p_unit) * peak  # finite for any finite matrix
        # T_normalised = T / (peak sqrt(p_unit n_in)); scale multiplies the file's numbers
        self.scale = 1.0 / (math.sqrt(p_unit * n_in) * peak) if normalize else 1.0
        unit_factor = 1.0 / math.sqrt(p_unit * n_in) if normalize else peak
        if not normalize and peak > float(np.finfo(np.float32).max) / 1e3:
            raise ValidationError(f"tm entries reach {peak:.3g}, too large for the float32 fields of a projection; "
                                  "load it normalised (normalize=True) or rescale it")
        self.normalized = bool(normalize)
        self.n_out = n_out
        self.n_in = n_in
        self.n_cols = full.shape[1]
        self._set_split(split_layout(full * unit_factor), n_in)
        if constant_field is not None:
            cf = np.asarray(constant_field, dtype=np.complex128).ravel()
            if cf.shape != (n_out,) or not np.all(np.isfinite(cf)):
                raise ValidationError(f"constant_field must be {n_out} finite values, one per output row (got shape {cf.shape})")
            self.recorded_constant_field = (cf / peak) * unit_factor  # the matrix's normalisation

    def _synthetic(self, t: np.ndarray, n_ref: int, how: str) -> np.ndarray:
        n_out, n_in = t.shape
        if how == "gaussian":
            row_sigma = np.sqrt(np.mean(np.abs(t) ** 2, axis=1))
            key = np.uint64(stream_key(self.seed, "measured", "reference"))
            out = np.empty((n_ref, 2 * n_out), dtype=np.float32)
            kernels.gaussian_block_numba(key, 0, n_out, 0, n_ref, math.sqrt(0.5), out)
            return (out[:, :n_out].astype(np.float64) + 1j * out[:, n_out:]).T * row_sigma[:, None]
        rng = generator(self.seed, "measured", "reference", "span")
        w = (rng.standard_normal((n_in, n_ref)) + 1j * rng.standard_normal((n_in, n_ref))) / math.sqrt(2.0 * n_in)
        return t @ w

    @staticmethod
    def verdict_of(t: np.ndarray, max_size: int = 512):
        """Ensemble verdict of a TM (a leading block of at most ``max_size`` per side)."""
        from ..ensembles import ensemble_verdict

        blk = np.asarray(t)[:max_size, :max_size]
        return ensemble_verdict(blk, n_null=12)

    @property
    def verdict(self):
        """Ensemble verdict of the signal block (computed once, on at most 512 x 512)."""
        if self._verdict is None:
            self._verdict = self.verdict_of(self.matrix().astype(np.complex128))
        return self._verdict

    @property
    def prefers_unitary_drift(self) -> bool:
        """True unless the TM is i.i.d. Gaussian (then Gaussian innovations fit it)."""
        return self.verdict.verdict != "iid-gaussian"

    def unitary_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(U_s, Sigma V^H) from the SVD of the whole TM (signal + reference columns)."""
        from .blas_threads import single_blas_thread

        t = self.matrix(None, slice(0, self.n_cols)).astype(np.complex128)
        with single_blas_thread():
            u, s, vh = np.linalg.svd(t, full_matrices=False)
        return u, s[:, None] * vh

    def absolute_matrix(self, rows=None, cols=None) -> np.ndarray:
        """The TM in the file's units (the normalisation undone), complex128."""
        return self.matrix(rows, cols).astype(np.complex128) / self.scale

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        n_in: int | None = None,
        *,
        n_cols: int | None = None,
        dataset: str | None = None,
        input_axis: str | None = None,
        normalize: bool = True,
        seed: int = 0,
        reference_columns: str = "auto",
        reference_indices=None,
        output_basis: str = "pixels",
    ) -> "MeasuredMedium":
        """Load a TM from a file (see :func:`load_transmission_matrix`) as a medium."""
        tm, meta = load_transmission_matrix(path, dataset, input_axis=input_axis)
        med = cls(
            tm, n_in, n_cols=n_cols, normalize=normalize, seed=seed, source=f"{path}:{meta['dataset']}",
            reference_columns=reference_columns, reference_indices=reference_indices, output_basis=output_basis,
            constant_field=read_constant_field(path, tm.shape[0]),
        )
        med.meta = meta
        return med

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            source=self.source,
            scale=self.scale,
            normalized=self.normalized,
            absolute_mean_abs2=self.absolute_mean_abs2,
            absolute_rms=self.absolute_rms,
            absolute_transmission=self.absolute_transmission,
            reference_columns=self.reference_columns,
            reference_indices=self.reference_indices,
            recorded_constant_field=self.recorded_constant_field is not None,
        )
        meta = getattr(self, "meta", None)
        if meta:
            d.update(file_format=meta.get("format"), input_axis=meta.get("input_axis"), input_axis_source=meta.get("input_axis_source"),
                     stored_shape=meta.get("stored_shape"))
        if self._verdict is not None:
            d["ensemble"] = self._verdict.verdict
        return d
