"""lightonml's verbosity switch, mapped onto :mod:`logging` (no prints in library code).

Levels: 0 nothing (warnings only), 1 info, 2 debug, 3 trace (= debug). They set the level of
the ``photonics`` logger; attach a handler (``logging.basicConfig(level=logging.INFO)``) to
see the messages.
"""

from __future__ import annotations

import logging

from ...errors import ValidationError
from ...validation import check_int

__all__ = ["set_verbose_level", "get_verbose_level"]

_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
_state = {"level": 0}


def set_verbose_level(verbose_level: int) -> None:
    """Set the verbosity (0..3) of the toolkit's loggers."""
    level = check_int(verbose_level, "verbose_level", low=0, high=3, error=ValidationError)
    _state["level"] = level
    logging.getLogger("photonics").setLevel(_LEVELS[level])


def get_verbose_level() -> int:
    """The last level given to :func:`set_verbose_level` (0 by default)."""
    return _state["level"]
