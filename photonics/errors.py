"""Exceptions raised by the toolkit.

Every exception also subclasses the matching builtin, so ``except ValueError`` in user code
keeps working, while ``except PhotonicsError`` catches everything the toolkit raises on purpose.
"""

from __future__ import annotations

__all__ = [
    "PhotonicsError",
    "ConfigError",
    "ValidationError",
    "ShapeError",
    "DTypeError",
    "FileFormatError",
    "CalibrationError",
]


class PhotonicsError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class ConfigError(PhotonicsError, ValueError):
    """A configuration value is missing, of the wrong type or out of its allowed range."""


class ValidationError(PhotonicsError, ValueError):
    """An argument has a forbidden value (NaN, negative exposure, non-binary DMD frame...)."""


class ShapeError(PhotonicsError, ValueError):
    """An array argument has the wrong number of dimensions or the wrong length."""


class DTypeError(PhotonicsError, TypeError):
    """An array argument has a dtype that cannot be used here."""


class FileFormatError(PhotonicsError, ValueError):
    """A file is corrupt, of another kind, of an unknown schema, or mismatched with its config."""


class CalibrationError(PhotonicsError, ValueError):
    """A calibration cannot be computed from the data given (too few frames, saturation...)."""
