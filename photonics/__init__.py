"""photonics: a physics-first simulator of optical random-projection processors.

An OPU computes y = |T x|^2 for binary inputs x (DMD), a complex transmission matrix T
(scattering medium) and a noisy camera. Start with::

    from photonics import OPU, DeviceConfig
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=1024, n_out=2048), seed=0)

The package never imports torch or dfa at import time.
"""

from __future__ import annotations

import logging
import os
import sys

# numba's OpenMP workers and OpenBLAS's threads alternate in every projection (GEMM, then the
# |.|^2 and camera kernels). With OpenMP's default active wait they spin against each other on
# machines with few cores (docs/results/throughput.md). A passive wait costs a few
# microseconds per parallel region. Set before numba loads its OpenMP runtime; an explicit
# user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The same on OpenBLAS's side: after every GEMM its worker threads spin for 2^28 cycles
# (~0.1 s) before sleeping, and on 2 cores the camera kernel that follows the field GEMM then
# ran at one thread's speed or less (3.0 ms instead of 1.6 ms for 256 x 1024 pixel samples).
# 2^4 cycles: they sleep at once; waking them costs microseconds per multi-threaded BLAS call.
# OpenBLAS reads this when it loads, with numpy: effective only when photonics is imported
# before numpy (the photonics and dfa commands, `photonics bench`, the benchmark scripts).
_OPENBLAS_TIMEOUT_SET_TOO_LATE = "numpy" in sys.modules and "OPENBLAS_THREAD_TIMEOUT" not in os.environ
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

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
if _OPENBLAS_TIMEOUT_SET_TOO_LATE:
    logging.getLogger(__name__).debug(
        "numpy was imported before photonics: OpenBLAS keeps its default thread timeout (set "
        "OPENBLAS_THREAD_TIMEOUT=4 before starting Python, or import photonics first, for the faster noisy projection)")

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
