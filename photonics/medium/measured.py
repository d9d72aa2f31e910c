"""A transmission matrix loaded from HDF5 (a lab measurement or an earlier run).

Accepted files: any HDF5 file holding an n_out x n_cols complex matrix, with or without the
toolkit's metadata:

* a dataset of complex dtype (h5py / numpy complex64, complex128),
* a compound dataset with two float fields named ``r``/``i`` or ``real``/``imag`` (the
  layout of h5py, MATLAB v7.3, HDF5 C/Fortran writers),
* a real dataset of shape (n_out, n_cols, 2) holding (Re, Im) on the last axis,
* a real dataset (a real-valued TM), accepted with a log message.

The dataset is ``dataset`` if given, else ``transmission_matrix`` (written by
:func:`save_transmission_matrix` and by :func:`photonics.device.save_device`), else the only
2-D (or n x m x 2) numeric dataset in the file. Files written by the toolkit
(``kind`` attribute starting with ``photonics.``) must carry a supported ``schema``.

The matrix is validated (2-D, numeric, finite, not all zero) and, by default, rescaled so that
the signal block has mean |T_ij|^2 = 1/n_in, the normalisation of every medium (the device's
power model then holds; the factor applied is kept in ``scale``). Rows are camera pixels in
the camera's row-major order, columns input modes: signal columns first, then the reference
modes' columns if the file has them. If it has only the n_in signal columns, the reference
columns are drawn as i.i.d. circular Gaussian columns with each row's measured mean power
(``reference_columns = "synthetic"``, seeded), since a lab TM measurement rarely includes the
reference modes' own columns.
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
from ..rng import stream_key
from ..validation import check_int
from .dense import DenseMedium, check_dense_size, split_layout

log = logging.getLogger(__name__)

__all__ = ["MeasuredMedium", "load_transmission_matrix", "save_transmission_matrix", "TM_KIND"]

#: ``kind`` of the files written by :func:`save_transmission_matrix`.
TM_KIND = "photonics.tm"
_DEFAULT_DATASET = "transmission_matrix"


def save_transmission_matrix(
    path: str | os.PathLike,
    tm,
    *,
    config=None,
    seed: int | None = None,
    attrs: dict[str, Any] | None = None,
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
    """
    from ..io import atomic_h5
    from ..validation import as_float_array

    t = as_float_array(tm, "tm", dtype=np.float64, allow_complex=True)
    if t.ndim != 2:
        raise ValidationError(f"tm must be a 2-D matrix (n_out, n_cols) (got shape {t.shape})")
    t = t.astype(np.complex64 if t.dtype in (np.float32, np.complex64) else np.complex128)
    with atomic_h5(path, TM_KIND, config=config, seed=seed) as fh:
        ds = fh.create_dataset(_DEFAULT_DATASET, data=t, compression="gzip", compression_opts=1)
        ds.attrs["unit"] = "1 (field amplitude ratio)"
        ds.attrs["layout"] = "rows = camera pixels (row-major image), cols = input modes (signal, then reference)"
        for k, v in (attrs or {}).items():
            fh.attrs[k] = v
    return Path(path)


def _is_tm_candidate(ds) -> bool:
    dt = ds.dtype
    if dt.names:
        return len(ds.shape) == 2
    if dt.kind == "c":
        return len(ds.shape) == 2
    if dt.kind in "fiu":
        return len(ds.shape) == 2 or (len(ds.shape) == 3 and ds.shape[-1] == 2)
    return False


def _pick_dataset(fh, path, dataset: str | None):
    import h5py

    if dataset is not None:
        if dataset not in fh:
            raise FileFormatError(f"{path}: no dataset {dataset!r} (datasets: {', '.join(_all_datasets(fh)) or 'none'})")
        obj = fh[dataset]
        if not isinstance(obj, h5py.Dataset):
            raise FileFormatError(f"{path}: {dataset!r} is a group, not a dataset")
        return dataset, obj
    if _DEFAULT_DATASET in fh and isinstance(fh[_DEFAULT_DATASET], h5py.Dataset):
        return _DEFAULT_DATASET, fh[_DEFAULT_DATASET]
    names = [n for n in _all_datasets(fh) if _is_tm_candidate(fh[n])]
    if len(names) == 1:
        return names[0], fh[names[0]]
    if not names:
        raise FileFormatError(
            f"{path}: no 2-D numeric dataset that could be a transmission matrix "
            f"(datasets: {', '.join(_all_datasets(fh)) or 'none'})"
        )
    raise FileFormatError(f"{path}: several datasets could be the transmission matrix ({', '.join(names)}); name one with dataset=...")


def _all_datasets(fh) -> list[str]:
    import h5py

    out: list[str] = []
    fh.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return out


def _to_complex(raw: np.ndarray, path, name) -> np.ndarray:
    dt = raw.dtype
    if dt.names:
        fields = {n.lower(): n for n in dt.names}
        for re_name, im_name in (("r", "i"), ("real", "imag"), ("re", "im")):
            if re_name in fields and im_name in fields and len(dt.names) == 2:
                re = raw[fields[re_name]]
                im = raw[fields[im_name]]
                if re.dtype.kind not in "fiu" or im.dtype.kind not in "fiu":
                    break
                return re.astype(np.float64) + 1j * im.astype(np.float64)
        raise FileFormatError(
            f"{path}: dataset {name!r} has compound dtype with fields {dt.names}; expected two numeric fields "
            "named r/i or real/imag"
        )
    if dt.kind == "c":
        return raw
    if dt.kind in "fiu":
        if raw.ndim == 3:
            return raw[..., 0].astype(np.float64) + 1j * raw[..., 1].astype(np.float64)
        log.info("%s: dataset %r is real-valued; using it as a real transmission matrix", path, name)
        return raw.astype(np.float64)
    raise FileFormatError(f"{path}: dataset {name!r} has dtype {dt}, not a numeric matrix")


def load_transmission_matrix(path: str | os.PathLike, dataset: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read and validate a TM from HDF5.

    Returns
    -------
    tm : ndarray (n_out, n_cols), complex128 (or complex64 if stored so)
    meta : dict
        ``dataset`` (name used), ``kind`` (None for foreign files), ``seed`` and ``config``
        (DeviceConfig) when stored, and the remaining root attributes.

    Raises
    ------
    FileNotFoundError
        No such file.
    FileFormatError
        Not HDF5, no suitable dataset, wrong shape or dtype, NaN/inf entries, all zeros,
        unsupported schema of a toolkit file.
    """
    import h5py

    from ..io import SCHEMA_VERSION
    from ..records import stored_device_config

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"transmission matrix file {str(path)!r} does not exist")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({exc})") from None
    with fh:
        kind = fh.attrs.get("kind")
        if isinstance(kind, bytes):
            kind = kind.decode()
        if isinstance(kind, str) and kind.startswith("photonics."):
            schema = int(fh.attrs.get("schema", -1))
            if schema != SCHEMA_VERSION:
                raise FileFormatError(f"{path}: schema version {schema} is not supported (this version reads {SCHEMA_VERSION})")
        name, ds = _pick_dataset(fh, path, dataset)
        if not _is_tm_candidate(ds):
            raise FileFormatError(
                f"{path}: dataset {name!r} has shape {ds.shape} and dtype {ds.dtype}; expected a 2-D complex matrix "
                "(n_out, n_cols), a compound r/i matrix or a real (n_out, n_cols, 2) array"
            )
        check_dense_size(ds.shape[0], ds.shape[1], f"{path}: dataset {name!r}")
        try:
            raw = ds[()]
        except OSError as exc:
            raise FileFormatError(f"{path}: cannot read dataset {name!r} ({exc})") from None
        meta: dict[str, Any] = {"dataset": name, "kind": kind}
        for k, v in fh.attrs.items():
            if k in ("config", "kind"):
                continue
            meta[k] = v.decode() if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)
        meta["config"] = stored_device_config(fh, path) if "config" in fh.attrs else None
    tm = _to_complex(raw, path, name)
    if min(tm.shape) < 1:
        raise FileFormatError(f"{path}: dataset {name!r} is empty (shape {tm.shape})")
    finite = np.isfinite(tm)
    if not finite.all():
        bad = int(tm.size - np.count_nonzero(finite))
        raise FileFormatError(f"{path}: dataset {name!r} has {bad} NaN or infinite entr{'y' if bad == 1 else 'ies'}; a TM must be finite")
    if not np.any(tm):
        raise FileFormatError(f"{path}: dataset {name!r} is all zero")
    return tm, meta


class MeasuredMedium(DenseMedium):
    """A medium whose TM comes from a file or an array.

    Parameters
    ----------
    tm : array (n_out, n_cols), complex
        The matrix (see :meth:`from_file` for HDF5).
    n_in : int, optional
        Signal columns (default: all). Columns n_in..n_cols are the reference modes'.
    n_cols : int, optional
        Columns the device needs (signal + reference). If the matrix has exactly ``n_in``
        columns and ``n_cols > n_in``, the missing reference columns are drawn as i.i.d.
        Gaussian columns with each row's mean power (seeded by ``seed``).
    normalize : bool
        Rescale so that the signal block has mean |T_ij|^2 = 1/n_in (factor in ``scale``).
    seed : int
        Seed of the synthetic reference columns, if any.
    source : str
        Where the matrix came from (for ``describe``).
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
    ):
        from ..validation import as_float_array

        t = as_float_array(tm, "tm", dtype=np.float64, allow_complex=True)
        if t.ndim != 2:
            raise ValidationError(f"tm must be a 2-D matrix (n_out, n_cols) (got shape {t.shape})")
        if not np.any(t):
            raise ValidationError("tm is all zero")
        n_out, have = t.shape
        n_in = have if n_in is None else check_int(n_in, "n_in", low=1, high=have, error=ValidationError)
        need = have if n_cols is None else check_int(n_cols, "n_cols", low=n_in, error=ValidationError)
        self.source = str(source)
        if need <= have:
            full = t[:, :need]
            self.reference_columns = "file" if need > n_in else "none"
        elif have == n_in:
            check_dense_size(n_out, need, "MeasuredMedium")
            row_sigma = np.sqrt(np.mean(np.abs(t) ** 2, axis=1))
            key = np.uint64(stream_key(int(seed), "measured", "reference"))
            out = np.empty((need - n_in, 2 * n_out), dtype=np.float32)
            kernels.gaussian_block_numba(key, 0, n_out, 0, need - n_in, math.sqrt(0.5), out)
            ref = (out[:, :n_out].astype(np.float64) + 1j * out[:, n_out:]).T * row_sigma[:, None]
            full = np.concatenate([t, ref], axis=1)
            self.reference_columns = "synthetic"
            log.info("measured TM has no reference columns: drew %d Gaussian columns with the measured row powers", need - n_in)
        else:
            raise ValidationError(
                f"the matrix has {have} columns: fewer than the {need} needed (n_in={n_in} signal + {need - n_in} reference) "
                f"but more than n_in; give exactly n_in={have} signal columns (reference drawn synthetic) or all {need}"
            )
        p = float(np.mean(np.abs(full[:, :n_in]) ** 2))
        self.scale = 1.0 / math.sqrt(p * n_in) if normalize else 1.0
        self.normalized = bool(normalize)
        self.n_out = n_out
        self.n_in = n_in
        self.n_cols = full.shape[1]
        self._set_split(split_layout(full * self.scale), n_in)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        n_in: int | None = None,
        *,
        n_cols: int | None = None,
        dataset: str | None = None,
        normalize: bool = True,
        seed: int = 0,
    ) -> "MeasuredMedium":
        """Load a TM from HDF5 (see :func:`load_transmission_matrix`) as a medium."""
        tm, meta = load_transmission_matrix(path, dataset)
        med = cls(tm, n_in, n_cols=n_cols, normalize=normalize, seed=seed, source=f"{path}:{meta['dataset']}")
        med.meta = meta
        return med

    def describe(self) -> dict:
        d = super().describe()
        d.update(source=self.source, scale=self.scale, normalized=self.normalized, reference_columns=self.reference_columns)
        return d
