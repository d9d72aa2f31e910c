"""Exceptions of the ``dfa`` package.

Bad inputs raise the :mod:`photonics.errors` exceptions (``ConfigError``, ``ShapeError``,
``ValidationError``, ``FileFormatError``...), re-exported here; training-specific failures add
:class:`TrainingDivergedError`. All derive from :class:`photonics.errors.PhotonicsError`, so the
``dfa`` command reports them as one clear line and exits with status 2.
"""

from __future__ import annotations

from photonics.errors import (
    CalibrationError,
    ConfigError,
    DTypeError,
    FileFormatError,
    PhotonicsError,
    ShapeError,
    ValidationError,
)

__all__ = [
    "PhotonicsError",
    "ConfigError",
    "ValidationError",
    "ShapeError",
    "DTypeError",
    "FileFormatError",
    "CalibrationError",
    "TrainingDivergedError",
]


class TrainingDivergedError(PhotonicsError, ArithmeticError):
    """The training loss (or a gradient) became NaN or infinite."""
