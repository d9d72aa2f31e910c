"""photonics: a physics-first simulator of optical random-projection processors.

An OPU computes y = |T x|^2 for binary inputs x (DMD), a complex transmission matrix T
(scattering medium) and a noisy camera. Start with::

    from photonics import OPU, DeviceConfig
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=1024, n_out=2048), seed=0)

The package never imports torch or dfa at import time.
"""

from __future__ import annotations

import logging

# thread-pool settings (OpenMP passive wait, OpenBLAS short spin), before numpy loads: see
# photonics.thread_defaults; an explicit user setting wins
from .thread_defaults import apply_defaults as _apply_thread_defaults
from .thread_defaults import settings as _thread_settings

_apply_thread_defaults()

from .config import (  # noqa: E402
    CameraConfig,
    DeviceConfig,
    DMDConfig,
    LaserConfig,
    MediumConfig,
    PowerConfig,
    ReferenceConfig,
    preset_names,
)
from .device import OPU, ReferenceCalibration, load_device, save_device  # noqa: E402
from .errors import (  # noqa: E402
    CalibrationError,
    ConfigError,
    DTypeError,
    FileFormatError,
    PhotonicsError,
    ShapeError,
    ValidationError,
)
from .version import __version__  # noqa: E402

logging.getLogger(__name__).addHandler(logging.NullHandler())
_late = _thread_settings()["set_after_load"]
if _late:
    logging.getLogger(__name__).debug("numpy or torch loaded before photonics: %s had no effect on them (see photonics.thread_defaults)",
                                      ", ".join(_late))

__all__ = [
    "__version__",
    "OPU",
    "ReferenceCalibration",
    "save_device",
    "load_device",
    "DeviceConfig",
    "LaserConfig",
    "DMDConfig",
    "MediumConfig",
    "CameraConfig",
    "ReferenceConfig",
    "PowerConfig",
    "preset_names",
    "PhotonicsError",
    "ConfigError",
    "ValidationError",
    "ShapeError",
    "DTypeError",
    "FileFormatError",
    "CalibrationError",
]
