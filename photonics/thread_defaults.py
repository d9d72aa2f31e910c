"""Thread-pool settings that ``import photonics`` puts in the environment (an explicit user setting wins).

A projection alternates between OpenBLAS's threads (the field GEMM) and numba's OpenMP threads
(the |.|^2 and camera kernels), and a training step adds torch's OpenMP threads. Each pool
keeps its threads busy-waiting for a while after its work, against the next pool's threads:

* ``OMP_WAIT_POLICY=PASSIVE``: OpenMP workers sleep as soon as a parallel region ends. Read
  by libgomp when it loads: by torch at ``import torch``, by numba at its first parallel
  kernel. Measured: an optical-DFA step of an MLP 40-1024-1024-10 with 3-bit errors, 2
  threads: 47 ms with torch loaded first (active wait), 16 ms with photonics first.
* ``OPENBLAS_THREAD_TIMEOUT=4``: OpenBLAS's workers sleep after 2^4 cycles instead of 2^28
  (~0.1 s). Read when numpy loads OpenBLAS. Measured: the camera kernel after a 1024 x 1024
  GEMM of 256 frames, 2 threads, 3.0 ms instead of 1.6 ms.

Waking a sleeping pool costs microseconds per parallel call. The settings take effect only for
runtimes that load after ``import photonics``: the ``photonics`` and ``dfa`` commands and the
benchmark scripts import photonics first; a script that imports numpy or torch earlier keeps
their defaults for them (:func:`settings` says which, and ``dfa`` warns when it sets several
threads in such a process). This module imports nothing heavy: it runs before numpy loads.
"""

from __future__ import annotations

import os
import sys

__all__ = ["DEFAULTS", "apply_defaults", "settings"]

#: variable -> value set by ``import photonics`` when the variable is not in the environment
DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}
#: variable -> the module whose import loads the runtime that reads it (torch brings libgomp;
#: without torch, numba loads it at its first parallel kernel, always after photonics)
_LOADED_BY = {"OMP_WAIT_POLICY": "torch", "OPENBLAS_THREAD_TIMEOUT": "numpy"}
_late: list[str] = []


def apply_defaults() -> None:
    """Put :data:`DEFAULTS` in the environment where unset; note those set after their runtime loaded."""
    for name, value in DEFAULTS.items():
        if name in os.environ:
            continue
        if _LOADED_BY[name] in sys.modules:
            _late.append(name)
        os.environ[name] = value


def settings() -> dict:
    """The variables' values now, and those photonics set after the runtime reading them had loaded (no effect)."""
    return {"environment": {k: os.environ.get(k) for k in DEFAULTS}, "set_after_load": list(_late)}
