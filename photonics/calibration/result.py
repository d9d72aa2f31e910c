"""Frozen calibration results: measured values with units and uncertainties, saved to HDF5.

Every calibration routine returns a frozen dataclass deriving from
:class:`CalibrationResult`. Scalar estimates are :class:`Measured` values (value, standard
uncertainty, unit); arrays carry their unit in the class's ``UNITS`` table. A result saves to
its own HDF5 file (:meth:`CalibrationResult.save`, atomic, with the device config and seed)
or into a group of a larger file (:meth:`CalibrationResult.write_h5`, used by the report),
and loads back to an equal object.

Layout of a result group: attribute ``result_type`` (class name); plain scalars and strings
as attributes (with ``<name>.unit`` where the unit is known); arrays as datasets with a
``unit`` attribute; :class:`Measured` values and nested results as sub-groups; fields that are
``None`` are listed in the attribute ``none_fields``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import FileFormatError, ValidationError

__all__ = ["Measured", "CalibrationResult", "relative_error", "load_any"]

_REGISTRY: dict[str, type] = {}


@dataclass(frozen=True)
class Measured:
    """A measured scalar: value, standard uncertainty (1 sigma) and unit.

    ``uncertainty`` is the standard error of the estimator from the data used (statistical
    only, unless a routine documents otherwise). ``lower_bound=True`` marks a value that is
    only a lower bound (e.g. a decorrelation time longer than the measurement could see).
    """

    value: float
    uncertainty: float
    unit: str
    lower_bound: bool = False

    def __post_init__(self):
        for name in ("value", "uncertainty"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise ValidationError(f"Measured.{name} must be a real number (got {v!r})")
            object.__setattr__(self, name, float(v))
        if not (self.uncertainty >= 0 or math.isnan(self.uncertainty)):
            raise ValidationError(f"Measured.uncertainty must be >= 0 (got {self.uncertainty})")
        if not isinstance(self.unit, str):
            raise ValidationError(f"Measured.unit must be a string (got {self.unit!r})")
        object.__setattr__(self, "lower_bound", bool(self.lower_bound))

    def __float__(self) -> float:
        return self.value

    def relative_uncertainty(self) -> float:
        """uncertainty / |value| (inf for a zero value)."""
        return self.uncertainty / abs(self.value) if self.value != 0 else math.inf

    def __format__(self, spec: str) -> str:
        spec = spec or ".4g"
        bound = ">= " if self.lower_bound else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{bound}{format(self.value, spec)} +/- {format(self.uncertainty, spec)}{unit}"

    def __str__(self) -> str:
        return format(self)


def relative_error(estimate: float, truth: float | None) -> float | None:
    """(estimate - truth) / |truth|, or None when the truth is unknown, zero or infinite."""
    if truth is None or not math.isfinite(truth) or truth == 0 or not math.isfinite(estimate):
        return None
    return (estimate - truth) / abs(truth)


class CalibrationResult:
    """Base class of the frozen result dataclasses (serialisation and summaries).

    Subclasses set ``KIND`` (the HDF5 ``kind`` of a stand-alone file is
    ``photonics.calibration.<KIND>``) and ``UNITS`` (units of array and plain-number fields).
    """

    KIND: ClassVar[str] = "result"
    UNITS: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # ---- summaries --------------------------------------------------------------------------
    def quantities(self) -> dict[str, Measured]:
        """The scalar estimates of this result, by name (fields holding a :class:`Measured`)."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, Measured):
                out[f.name] = v
        return out

    # ---- HDF5 ----------------------------------------------------------------------------------
    def write_h5(self, group) -> None:
        """Write this result into an open h5py group."""
        group.attrs["result_type"] = type(self).__name__
        none_fields = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            unit = self.UNITS.get(f.name, "")
            if v is None:
                none_fields.append(f.name)
            elif isinstance(v, Measured):
                g = group.create_group(f.name)
                g.attrs["result_type"] = "Measured"
                g.attrs["value"] = v.value
                g.attrs["uncertainty"] = v.uncertainty
                g.attrs["unit"] = v.unit
                g.attrs["lower_bound"] = v.lower_bound
            elif isinstance(v, CalibrationResult):
                v.write_h5(group.create_group(f.name))
            elif isinstance(v, dict):
                g = group.create_group(f.name)
                g.attrs["result_type"] = "dict"
                for k, x in v.items():
                    g.attrs[str(k)] = x
            elif isinstance(v, np.ndarray):
                ds = group.create_dataset(f.name, data=v)
                ds.attrs["unit"] = unit
            elif isinstance(v, (bool, int, float, str, np.generic)):
                group.attrs[f.name] = v
                if unit:
                    group.attrs[f"{f.name}.unit"] = unit
            else:  # pragma: no cover - programming error in a result class
                raise TypeError(f"{type(self).__name__}.{f.name}: cannot store {type(v).__name__}")
        group.attrs["none_fields"] = ",".join(none_fields)

    @classmethod
    def read_h5(cls, group):
        """Read a result written by :meth:`write_h5` (checks the stored type)."""
        stored = _attr_str(group.attrs.get("result_type"))
        if stored != cls.__name__:
            raise FileFormatError(f"group {group.name!r} holds a {stored!r}, expected {cls.__name__!r}")
        return _read_group(group)

    def save(self, path: str | os.PathLike, *, config=None, seed: int | None = None) -> Path:
        """Save to a stand-alone HDF5 file (atomic), with the device config and seed if given."""
        from ..io import atomic_h5

        path = Path(path)
        with atomic_h5(path, f"photonics.calibration.{self.KIND}", config=config, seed=seed) as fh:
            self.write_h5(fh.create_group("result"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load a file written by :meth:`save`."""
        from ..io import open_h5

        with open_h5(path, f"photonics.calibration.{cls.KIND}") as fh:
            if "result" not in fh:
                raise FileFormatError(f"{path}: no 'result' group")
            return cls.read_h5(fh["result"])


def _attr_str(v) -> str | None:
    if isinstance(v, bytes):
        return v.decode()
    return None if v is None else str(v)


def _plain(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _read_group(group):
    kind = _attr_str(group.attrs.get("result_type"))
    if kind == "Measured":
        try:
            return Measured(
                float(group.attrs["value"]),
                float(group.attrs["uncertainty"]),
                _attr_str(group.attrs["unit"]) or "",
                bool(group.attrs.get("lower_bound", False)),
            )
        except KeyError as exc:
            raise FileFormatError(f"group {group.name!r}: Measured value lacks {exc}") from None
    if kind == "dict":
        return {k: _plain(v) for k, v in group.attrs.items() if k != "result_type"}
    cls = _REGISTRY.get(kind or "")
    if cls is None:
        raise FileFormatError(f"group {group.name!r}: unknown result type {kind!r}")
    none_fields = set(filter(None, (_attr_str(group.attrs.get("none_fields")) or "").split(",")))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in none_fields:
            kwargs[f.name] = None
        elif f.name in group:
            item = group[f.name]
            kwargs[f.name] = _read_group(item) if hasattr(item, "keys") else item[()]
        elif f.name in group.attrs:
            kwargs[f.name] = _plain(group.attrs[f.name])
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            continue
        else:
            raise FileFormatError(f"group {group.name!r}: {cls.__name__} field {f.name!r} is missing")
    return cls(**kwargs)


def load_any(group):
    """Read whatever result a group holds (the type is taken from the group)."""
    return _read_group(group)
