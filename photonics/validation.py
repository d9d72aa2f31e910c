"""Argument checks shared by the public API.

Each check raises a :mod:`photonics.errors` exception whose message names the parameter, the
allowed range and the value received, e.g. ``exposure_s must be > 0 s (got -0.001)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import ConfigError, DTypeError, ShapeError, ValidationError

__all__ = [
    "check_real",
    "check_int",
    "check_choice",
    "check_known_keys",
    "as_float_array",
    "as_binary_frames",
    "check_ndim",
    "available_memory_bytes",
    "check_allocation",
]


def _fmt(value: Any) -> str:
    return repr(value)


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
    unit: str = "",
    error: type[Exception] = ConfigError,
) -> float:
    """Return ``value`` as a float after checking it is a finite real within [low, high].

    Raises ``error`` (default :class:`ConfigError`) naming ``name`` and the allowed range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{name} must be a real number{_unit(unit)} (got {_fmt(value)} of type {type(value).__name__})")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise error(f"{name} must be finite{_unit(unit)} (got {v})")
    if low is not None:
        bad = v < low if low_inclusive else v <= low
        if bad:
            op = ">=" if low_inclusive else ">"
            raise error(f"{name} must be {op} {low:g}{_unit(unit)} (got {v:g})")
    if high is not None:
        bad = v > high if high_inclusive else v >= high
        if bad:
            op = "<=" if high_inclusive else "<"
            raise error(f"{name} must be {op} {high:g}{_unit(unit)} (got {v:g})")
    return v


def check_int(
    value: Any,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    error: type[Exception] = ConfigError,
) -> int:
    """Return ``value`` as an int after checking it is an integer within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} must be an integer (got {_fmt(value)} of type {type(value).__name__})")
    v = int(value)
    if low is not None and v < low:
        raise error(f"{name} must be >= {low} (got {v})")
    if high is not None and v > high:
        raise error(f"{name} must be <= {high} (got {v})")
    return v


def check_choice(value: Any, name: str, choices: tuple[str, ...], error: type[Exception] = ConfigError) -> str:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise error(f"{name} must be one of {', '.join(repr(c) for c in choices)} (got {_fmt(value)})")
    return value


def check_known_keys(data, allowed, what: str, error: type[Exception] = ConfigError) -> None:
    """Raise ``error`` naming the keys of mapping ``data`` that are not in ``allowed``, and the allowed ones.

    Message: ``unknown <what> setting(s) 'a', 'b'; allowed: x, y, z``.
    """
    names = set(allowed)
    unknown = sorted(set(data) - names)
    if unknown:
        raise error(f"unknown {what} setting(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(names))}")


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def check_ndim(x: np.ndarray, name: str, ndims: tuple[int, ...]) -> None:
    """Raise :class:`ShapeError` unless ``x.ndim`` is in ``ndims``."""
    if x.ndim not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise ShapeError(f"{name} must be {allowed} (got shape {x.shape})")


def as_float_array(x: Any, name: str, *, dtype=np.float32, allow_complex: bool = False) -> np.ndarray:
    """Convert ``x`` to a finite floating array, rejecting NaN/inf and non-numeric dtypes."""
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DTypeError(f"{name} must be a numeric array (got dtype {arr.dtype})")
    if np.iscomplexobj(arr) and not allow_complex:
        raise DTypeError(f"{name} must be real-valued (got dtype {arr.dtype})")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValidationError(f"{name} contains {n_bad} NaN or infinite value(s); all entries must be finite")
    if np.iscomplexobj(arr):
        return arr.astype(np.complex64 if dtype == np.float32 else np.complex128, copy=False)
    return arr.astype(dtype, copy=False)


def as_binary_frames(x: Any, name: str, n_features: int) -> np.ndarray:
    """Return ``x`` as a uint8 array of DMD frames in {0, 1}, shape (..., n_features).

    Accepts bool, integer or float arrays whose entries are exactly 0 or 1. Anything else
    (0.5, 2, -1, NaN) is rejected: a DMD mirror is either on or off.
    """
    arr = np.asarray(x)
    if not (arr.dtype == np.uint8 and arr.ndim and arr.shape[-1] == n_features):  # uint8 frames (the hot path) skip these
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DTypeError(f"{name} must be a numeric or boolean array of DMD frames (got dtype {arr.dtype})")
        if np.iscomplexobj(arr):
            raise DTypeError(f"{name} must be real binary frames (got complex dtype {arr.dtype})")
        if arr.ndim == 0:
            raise ShapeError(f"{name} must have a last axis of length n_in={n_features} (got a scalar)")
        if arr.shape[-1] != n_features:
            raise ShapeError(f"{name} must have last axis of length n_in={n_features} (got shape {arr.shape})")
        if arr.dtype == np.bool_:
            return arr.view(np.uint8)
    if arr.dtype == np.uint8:
        if arr.size and np.maximum.reduce(arr, axis=None) > 1:  # arr.max() without its Python wrapper
            raise ValidationError(
                f"{name} must be binary DMD frames with entries in {{0, 1}} (found value {int(arr.max())}); "
                "encode real inputs first, e.g. with photonics.encoding.BitPlaneEncoder"
            )
        return arr
    ok = (arr == 0) | (arr == 1)
    if not np.all(ok):
        bad = arr[~ok].ravel()[0]
        raise ValidationError(
            f"{name} must be binary DMD frames with entries in {{0, 1}} (found value {bad!r}); "
            "encode real inputs first, e.g. with photonics.encoding.BitPlaneEncoder"
        )
    return arr.astype(np.uint8)


def available_memory_bytes() -> int | None:
    """Memory this machine can still give a process [bytes] (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_allocation(nbytes: float, what: str, hint: str = "", *, error: type[Exception] = ValidationError) -> None:
    """Refuse a request that needs more memory than the machine has available, before allocating.

    ``what`` names the request and its parameter (``"dark_frames(n=10**12): 10**12 frames of 1024 pixels"``);
    ``hint`` says what to do instead. Requests below 80 % of the available memory pass.
    """
    avail = available_memory_bytes()
    if avail is None or nbytes <= 0.8 * avail:
        return
    raise error(f"{what} needs {_bytes(nbytes)} of memory, more than this machine has available ({_bytes(avail)})"
                + (f"; {hint}" if hint else ""))


def _bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"
