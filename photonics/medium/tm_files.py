"""Reading transmission matrices from the files labs write: HDF5, NumPy .npy / .npz, MATLAB .mat.

Formats (chosen by content, not only by suffix)
-----------------------------------------------
* HDF5 (``.h5``, ``.hdf5``, MATLAB v7.3 ``.mat``): a complex dataset, a compound dataset with
  two numeric fields r/i, real/imag or re/im, a real (n, m, 2) array (Re, Im on the last axis)
  or a real matrix; inside groups too. The dataset is the one named, else
  ``transmission_matrix``, else the only candidate.
* ``.npy``: one array (complex, real, or real (n, m, 2)).
* ``.npz``: the named array, else ``transmission_matrix``, else the only candidate.
* MATLAB v4-v7.2 ``.mat`` (scipy.io): the named variable, else the only candidate.

Orientation: a TM maps inputs to outputs. Each file may say which axis holds the inputs: an
HDF5 attribute ``input_axis`` (on the dataset or the root: ``"columns"``/``"rows"`` or 1/0),
an ``input_axis`` entry of an .npz or variable of a .mat file, or a toolkit file (``kind``
starting with ``photonics.``: columns are inputs). :func:`read_tm_header` reports the shape and
that declaration without reading the matrix (so sizes can be taken from the file).
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError

log = logging.getLogger(__name__)

__all__ = ["TMHeader", "read_tm_header", "read_tm_array", "INPUT_AXES", "DEFAULT_DATASET", "parse_input_axis", "file_format"]

DEFAULT_DATASET = "transmission_matrix"
#: Declared input axes: "columns" (T is n_out x n_in, y = T x) or "rows" (T stored n_in x n_out).
INPUT_AXES = ("columns", "rows")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class TMHeader:
    """What a file says about its TM before the matrix is read.

    Attributes
    ----------
    path : Path
    format : str
        ``"hdf5"``, ``"npy"``, ``"npz"`` or ``"mat"``.
    dataset : str
        Dataset / array / variable name used.
    shape : (int, int)
        Matrix shape as stored (a trailing (Re, Im) axis removed).
    input_axis : str or None
        Declared input axis (``"columns"``/``"rows"``), None if the file says nothing.
    toolkit : bool
        Written by this toolkit (``kind`` attribute ``photonics.*``).
    """

    path: Path
    format: str
    dataset: str
    shape: tuple[int, int]
    input_axis: str | None
    toolkit: bool


def parse_input_axis(value: Any, where: str) -> str:
    """Normalise an input-axis declaration ("columns"/"cols"/1 or "rows"/0)."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tolist()
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        if int(value) in (0, 1):
            return "rows" if int(value) == 0 else "columns"
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("columns", "cols", "column", "col"):
            return "columns"
        if v in ("rows", "row"):
            return "rows"
    raise FileFormatError(f"{where}: input_axis must be 'columns' (1) or 'rows' (0) (got {value!r})")


def file_format(path: Path) -> str:
    """``hdf5``, ``npz``, ``npy`` or ``mat`` from the file's first bytes (suffix as a tie-break)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(520)
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc})") from None
    if head.startswith(_HDF5_MAGIC) or head[512:520] == _HDF5_MAGIC:  # MATLAB v7.3: 512-byte user block
        return "hdf5"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
        return "npz"
    if head[:6] == b"MATLAB" or path.suffix.lower() == ".mat":
        return "mat"
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf", ".he5"):
        raise FileFormatError(f"{path}: not a readable HDF5 file (no HDF5 signature)")
    raise FileFormatError(
        f"{path}: not a readable transmission-matrix file (HDF5 .h5, NumPy .npy/.npz or MATLAB .mat"
        f"{'; the suffix says ' + suffix[1:] + ' but the content does not match' if suffix else ''})"
    )


def _candidate_shape(shape: tuple[int, ...], kind: str, compound: bool) -> tuple[int, int] | None:
    if compound or kind == "c":
        return (int(shape[0]), int(shape[1])) if len(shape) == 2 else None
    if kind in "fiu":
        if len(shape) == 2:
            return (int(shape[0]), int(shape[1]))
        if len(shape) == 3 and shape[-1] == 2:
            return (int(shape[0]), int(shape[1]))
    return None


def _pick(path, names: dict[str, tuple[int, int] | None], dataset: str | None, what: str) -> str:
    if dataset is not None:
        if dataset not in names:
            raise FileFormatError(f"{path}: no {what} {dataset!r} ({what}s: {', '.join(names) or 'none'})")
        return dataset
    if DEFAULT_DATASET in names and names[DEFAULT_DATASET] is not None:
        return DEFAULT_DATASET
    cands = [n for n, s in names.items() if s is not None]
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise FileFormatError(f"{path}: no 2-D numeric {what} that could be a transmission matrix ({what}s: {', '.join(names) or 'none'})")
    raise FileFormatError(f"{path}: several {what}s could be the transmission matrix ({', '.join(cands)}); name one with dataset=...")


# ---- HDF5 ---------------------------------------------------------------------------------------
def _h5_datasets(fh) -> list[str]:
    import h5py

    out: list[str] = []
    fh.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return out


def _h5_open(path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({exc})") from None


def _h5_header(path, fh, dataset):
    import h5py

    names = {}
    for n in _h5_datasets(fh):
        ds = fh[n]
        names[n] = _candidate_shape(ds.shape, ds.dtype.kind, bool(ds.dtype.names))
    if dataset is not None and dataset in fh and not isinstance(fh[dataset], h5py.Dataset):
        raise FileFormatError(f"{path}: {dataset!r} is a group, not a dataset")
    name = _pick(path, names, dataset, "dataset")
    ds = fh[name]
    shape = names[name]
    if shape is None:
        raise FileFormatError(
            f"{path}: dataset {name!r} has shape {ds.shape} and dtype {ds.dtype}; expected a 2-D complex matrix "
            "(n_out, n_cols), a compound r/i matrix or a real (n_out, n_cols, 2) array"
        )
    kind = fh.attrs.get("kind")
    if isinstance(kind, bytes):
        kind = kind.decode()
    toolkit = isinstance(kind, str) and kind.startswith("photonics.")
    axis = None
    for holder in (ds, fh):
        if "input_axis" in holder.attrs:
            axis = parse_input_axis(holder.attrs["input_axis"], f"{path}: attribute input_axis")
            break
    if axis is None and toolkit:
        axis = "columns"
    return name, shape, axis, toolkit


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
        log.info("%s: %r is real-valued; using it as a real transmission matrix", path, name)
        return raw.astype(np.float64)
    raise FileFormatError(f"{path}: {name!r} has dtype {dt}, not a numeric matrix")


# ---- npy / npz / mat ---------------------------------------------------------------------------------
def _npy_shape(fp) -> tuple[tuple[int, ...], np.dtype]:
    from numpy.lib import format as npf

    version = npf.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = npf.read_array_header_1_0(fp)
    else:
        shape, _, dtype = npf.read_array_header_2_0(fp)
    return shape, dtype


def _npz_members(path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    out = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as fp:
                try:
                    out[info.filename[:-4]] = _npy_shape(fp)
                except ValueError as exc:
                    raise FileFormatError(f"{path}: member {info.filename!r} is not a NumPy array ({exc})") from None
    return out


def _mat_vars(path) -> dict[str, tuple[tuple[int, ...], str]]:
    from scipy import io as sio

    try:
        return {name: (tuple(shape), cls) for name, shape, cls in sio.whosmat(str(path))}
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise FileFormatError(f"{path}: not a readable MATLAB .mat file ({exc})") from None


def read_tm_header(path: str | os.PathLike, dataset: str | None = None) -> TMHeader:
    """Shape, dataset name and declared input axis of the TM in a file (the matrix is not read).

    Raises
    ------
    FileNotFoundError
        No such file.
    FileFormatError
        Unknown format, no suitable array, several candidates without ``dataset``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"transmission matrix file {str(path)!r} does not exist")
    fmt = file_format(path)
    if fmt == "hdf5":
        with _h5_open(path) as fh:
            name, shape, axis, toolkit = _h5_header(path, fh, dataset)
        return TMHeader(path, fmt, name, shape, axis, toolkit)
    if fmt == "npy":
        with open(path, "rb") as fp:
            try:
                shp, dt = _npy_shape(fp)
            except ValueError as exc:
                raise FileFormatError(f"{path}: not a readable .npy file ({exc})") from None
        shape = _candidate_shape(shp, dt.kind, bool(dt.names))
        if shape is None:
            raise FileFormatError(f"{path}: the array has shape {shp} and dtype {dt}; expected a 2-D (complex) matrix or (n, m, 2)")
        return TMHeader(path, fmt, "array", shape, None, False)
    if fmt == "npz":
        members = _npz_members(path)
        names = {n: _candidate_shape(s, d.kind, bool(d.names)) for n, (s, d) in members.items() if n != "input_axis"}
        name = _pick(path, names, dataset, "array")
        if names[name] is None:
            s, d = members[name]
            raise FileFormatError(f"{path}: array {name!r} has shape {s} and dtype {d}; expected a 2-D (complex) matrix or (n, m, 2)")
        axis = None
        if "input_axis" in members:
            with np.load(path, allow_pickle=False) as z:
                axis = parse_input_axis(z["input_axis"], f"{path}: entry input_axis")
        return TMHeader(path, fmt, name, names[name], axis, False)
    variables = _mat_vars(path)
    numeric = ("double", "single", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    names = {n: (tuple(int(v) for v in s[:2]) if (len(s) == 2 or (len(s) == 3 and s[2] == 2)) and c in numeric else None)
             for n, (s, c) in variables.items() if n != "input_axis"}
    name = _pick(path, names, dataset, "variable")
    if names[name] is None:
        s, c = variables[name]
        raise FileFormatError(f"{path}: variable {name!r} is a {c} of shape {s}; expected a 2-D numeric matrix")
    axis = None
    if "input_axis" in variables:
        from scipy import io as sio

        axis = parse_input_axis(sio.loadmat(str(path), variable_names=["input_axis"])["input_axis"], f"{path}: variable input_axis")
    return TMHeader(path, fmt, name, names[name], axis, False)


def read_tm_array(header: TMHeader) -> tuple[np.ndarray, dict[str, Any]]:
    """The stored matrix (complex or real, as stored) and the file's scalar attributes."""
    path = header.path
    attrs: dict[str, Any] = {}
    if header.format == "hdf5":
        with _h5_open(path) as fh:
            ds = fh[header.dataset]
            try:
                raw = ds[()]
            except OSError as exc:
                raise FileFormatError(f"{path}: cannot read dataset {header.dataset!r} ({exc})") from None
            for k, v in fh.attrs.items():
                attrs[k] = v.decode() if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)
        return _to_complex(raw, path, header.dataset), attrs
    if header.format == "npy":
        try:
            raw = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise FileFormatError(f"{path}: cannot read the array ({exc})") from None
        return _to_complex(raw, path, "array"), attrs
    if header.format == "npz":
        with np.load(path, allow_pickle=False) as z:
            raw = z[header.dataset]
        return _to_complex(raw, path, header.dataset), attrs
    from scipy import io as sio

    try:
        raw = sio.loadmat(str(path), variable_names=[header.dataset])[header.dataset]
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise FileFormatError(f"{path}: cannot read variable {header.dataset!r} ({exc})") from None
    return _to_complex(np.asarray(raw), path, header.dataset), attrs
