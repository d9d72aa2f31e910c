"""Records in HDF5: frame stacks and results, each with the device config that produced them.

A record is an HDF5 file in the envelope of :mod:`photonics.io` (kind, schema, package
version, ``config`` as JSON, ``seed``; a ``unit`` on every dataset), written atomically.

* :func:`save_frames` / :func:`load_frames`: a frame stack (kind ``photonics.frames``);
* :func:`save_result` / :func:`load_result`: arrays as datasets, scalars and strings as
  attributes, one level of groups (any kind, e.g. ``photonics.randnla.svd``);
* :func:`stored_device_config`: the :class:`~photonics.config.DeviceConfig` a file stores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .config import DeviceConfig
from .errors import FileFormatError, ValidationError
from .io import atomic_h5, open_h5, stored_json_attr

__all__ = ["save_frames", "load_frames", "save_result", "load_result", "stored_device_config"]


def stored_device_config(fh, path) -> DeviceConfig:
    """The device config stored in an open file's ``config`` attribute (FileFormatError if absent or invalid)."""
    text = stored_json_attr(fh, "config", path)
    if text is None:
        raise FileFormatError(f"{path}: no device config stored")
    try:
        return DeviceConfig.from_json(text)
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"{path}: stored device config is invalid ({exc})") from None


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
        meta["config"] = stored_device_config(fh, path) if "config" in fh.attrs else None
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
            data["config"] = stored_device_config(fh, path)
    return data
