"""HDF5 store: devices, transmission matrices, frame stacks and results.

Every file written here carries, as root attributes:

* ``schema`` (this module's :data:`SCHEMA_VERSION`) and ``kind`` (``"photonics.device"``,
  ``"photonics.frames"``, ``"photonics.result"``...),
* ``package_version``, and where relevant ``config`` (the DeviceConfig as JSON) and ``seed``;

and every dataset carries a ``unit`` attribute. Writes go to a temporary file in the same
folder that is renamed into place only when complete, so a crash never leaves a
half-written file under the final name. Reading checks kind, schema, shapes and dtypes and
raises :class:`~photonics.errors.FileFormatError` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import __version__
from .config import DeviceConfig
from .errors import FileFormatError, ShapeError, ValidationError

log = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "atomic_h5",
    "open_h5",
    "save_device",
    "load_device",
    "save_frames",
    "load_frames",
    "save_result",
    "load_result",
]

SCHEMA_VERSION = 1


def _h5py():
    import h5py

    return h5py


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, kind: str, *, config: DeviceConfig | None = None, seed: int | None = None) -> Iterator[Any]:
    """Open a new HDF5 file for writing, atomically.

    Yields an ``h5py.File`` on a temporary path next to ``path``; on normal exit the file is
    closed and renamed to ``path``, on an exception it is deleted and ``path`` is untouched.
    """
    h5py = _h5py()
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"folder {str(path.parent)!r} does not exist")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as fh:
            fh.attrs["schema"] = SCHEMA_VERSION
            fh.attrs["kind"] = kind
            fh.attrs["package_version"] = __version__
            if config is not None:
                fh.attrs["config"] = config.to_json()
            if seed is not None:
                fh.attrs["seed"] = int(seed)
            yield fh
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def open_h5(path: str | os.PathLike, kind: str):
    """Open an existing file for reading after checking it is a ``kind`` file of our schema."""
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({exc})") from None
    try:
        file_kind = fh.attrs.get("kind")
        if isinstance(file_kind, bytes):
            file_kind = file_kind.decode()
        if file_kind is None:
            raise FileFormatError(f"{path}: no 'kind' attribute; not written by photonics")
        if file_kind != kind:
            raise FileFormatError(f"{path}: is a {file_kind!r} file, expected {kind!r}")
        schema = int(fh.attrs.get("schema", -1))
        if schema != SCHEMA_VERSION:
            raise FileFormatError(f"{path}: schema version {schema} is not supported (this version reads {SCHEMA_VERSION})")
    except Exception:
        fh.close()
        raise
    return fh


def _config_of(fh, path) -> DeviceConfig:
    text = fh.attrs.get("config")
    if text is None:
        raise FileFormatError(f"{path}: no device config stored")
    if isinstance(text, bytes):
        text = text.decode()
    try:
        return DeviceConfig.from_json(text)
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"{path}: stored device config is invalid ({exc})") from None


def save_device(path: str | os.PathLike, opu, *, include_tm: bool = False) -> Path:
    """Save a device: config, seed and (optionally) its dense signal TM.

    Parameters
    ----------
    path : path
        Destination ``.h5`` file (written atomically).
    opu : photonics.OPU
        The device.
    include_tm : bool
        Also store T (complex64, n_out x n_in). Reloading then checks that the config and
        seed still regenerate this very matrix (a mismatch means the file was edited or
        written by an incompatible version).
    """
    path = Path(path)
    with atomic_h5(path, "photonics.device", config=opu.config, seed=opu.seed) as fh:
        fh.attrs["device_time_s"] = opu.device_time_s
        fh.attrs["frames_used"] = opu.frames_used
        if include_tm:
            t = opu.transmission_matrix
            ds = fh.create_dataset("transmission_matrix", data=t, compression="gzip", compression_opts=1)
            ds.attrs["unit"] = "1 (field amplitude ratio, E|T_ij|^2 = 1/n_in)"
            ds.attrs["layout"] = "rows = camera pixels (n_out), cols = input modes (n_in)"
    log.info("saved device %s to %s", opu, path)
    return path


def load_device(path: str | os.PathLike, *, check_tm: bool = True):
    """Load a device written by :func:`save_device`; returns a fresh :class:`photonics.OPU`.

    The clock starts again at zero. If the file holds a TM, it is compared with the one the
    stored config and seed regenerate (first rows), unless ``check_tm`` is False.
    """
    from .device import OPU

    path = Path(path)
    with open_h5(path, "photonics.device") as fh:
        cfg = _config_of(fh, path)
        if "seed" not in fh.attrs:
            raise FileFormatError(f"{path}: no seed stored")
        seed = int(fh.attrs["seed"])
        stored = None
        if "transmission_matrix" in fh:
            ds = fh["transmission_matrix"]
            if ds.shape != (cfg.n_out, cfg.n_in):
                raise FileFormatError(
                    f"{path}: transmission_matrix has shape {ds.shape} but the config says (n_out, n_in) = ({cfg.n_out}, {cfg.n_in})"
                )
            if ds.dtype.kind != "c":
                raise FileFormatError(f"{path}: transmission_matrix must be complex (got dtype {ds.dtype})")
            if check_tm:
                stored = ds[: min(8, cfg.n_out)]
    opu = OPU(cfg, seed=seed)
    if stored is not None:
        fresh = opu.medium.matrix(slice(0, stored.shape[0]), slice(0, cfg.n_in))
        if not np.allclose(stored, fresh, rtol=1e-5, atol=1e-7):
            raise FileFormatError(
                f"{path}: the stored transmission matrix does not match the one its config and seed generate "
                "(edited file or incompatible version); load it as a measured medium instead"
            )
    return opu


def save_frames(
    path: str | os.PathLike,
    frames: np.ndarray,
    *,
    config: DeviceConfig | None = None,
    seed: int | None = None,
    unit: str = "DN",
    name: str = "frames",
    extra: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
) -> Path:
    """Save a frame stack (any shape, numeric) with its unit and the device config."""
    arr = np.asarray(frames)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValidationError(f"frames must be a numeric array (got dtype {arr.dtype})")
    path = Path(path)
    with atomic_h5(path, "photonics.frames", config=config, seed=seed) as fh:
        ds = fh.create_dataset(name, data=arr, compression="gzip", compression_opts=1)
        ds.attrs["unit"] = unit
        fh.attrs["main"] = name
        for k, v in (extra or {}).items():
            d = fh.create_dataset(k, data=np.asarray(v))
            d.attrs["unit"] = ""
        for k, v in (attrs or {}).items():
            fh.attrs[k] = v
    return path


def load_frames(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Load a frame stack; returns (array, metadata dict with 'unit', 'config', 'seed', attrs)."""
    path = Path(path)
    with open_h5(path, "photonics.frames") as fh:
        name = fh.attrs.get("main", "frames")
        if isinstance(name, bytes):
            name = name.decode()
        if name not in fh:
            raise FileFormatError(f"{path}: dataset {name!r} is missing")
        ds = fh[name]
        arr = ds[()]
        meta: dict[str, Any] = {"unit": ds.attrs.get("unit", "")}
        meta["config"] = _config_of(fh, path) if "config" in fh.attrs else None
        meta["seed"] = int(fh.attrs["seed"]) if "seed" in fh.attrs else None
        for k, v in fh.attrs.items():
            if k not in ("config", "seed", "schema", "kind", "main"):
                meta[k] = v
        for k in fh:
            if k != name:
                meta[k] = fh[k][()]
    return arr, meta


def save_result(path: str | os.PathLike, kind: str, values: dict[str, Any], *, config: DeviceConfig | None = None, seed: int | None = None, units: dict[str, str] | None = None) -> Path:
    """Save a result: arrays become datasets, scalars/strings attributes; units recorded.

    ``values`` may nest one level of dicts (stored as groups).
    """
    units = units or {}
    path = Path(path)

    def put(group, key, val, unit):
        if isinstance(val, dict):
            sub = group.create_group(key)
            for k2, v2 in val.items():
                put(sub, k2, v2, units.get(f"{key}.{k2}", ""))
            return
        if val is None:
            return
        arr = np.asarray(val)
        if arr.ndim == 0 and arr.dtype.kind in "biufcUS":
            group.attrs[key] = val if not isinstance(val, (np.generic,)) else val.item()
            if unit:
                group.attrs[f"{key}.unit"] = unit
        else:
            ds = group.create_dataset(key, data=arr)
            ds.attrs["unit"] = unit

    with atomic_h5(path, kind, config=config, seed=seed) as fh:
        for k, v in values.items():
            put(fh, k, v, units.get(k, ""))
    return path


def load_result(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Inverse of :func:`save_result` (units dropped; ``config`` parsed when present)."""
    path = Path(path)

    def get(group) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in group.attrs.items():
            if k.endswith(".unit") or k in ("schema", "kind", "package_version"):
                continue
            out[k] = v.decode() if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)
        for k in group:
            item = group[k]
            out[k] = get(item) if hasattr(item, "keys") else item[()]
        return out

    with open_h5(path, kind) as fh:
        data = get(fh)
        if "config" in fh.attrs:
            data["config"] = _config_of(fh, path)
    return data


def check_array_shape(arr: np.ndarray, shape: tuple, name: str) -> None:
    """Raise ShapeError unless ``arr.shape == shape`` (None entries match anything)."""
    if len(arr.shape) != len(shape) or any(s is not None and a != s for a, s in zip(arr.shape, shape)):
        raise ShapeError(f"{name} must have shape {shape} (got {arr.shape})")


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically (temporary file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
