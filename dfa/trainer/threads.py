"""CPU threads of the three compute libraries a training step uses.

A step runs torch (the model), numba (the OPU's intensity and camera kernels) and the BLAS
behind numpy (the OPU's field GEMM). Each keeps its own thread pool; on a small or shared
machine, pools that spin while another library computes slow small steps down several times
(measured: an optical-DFA step of an MLP 40-1024-1024-10 with 3-bit errors takes 92 ms with
numpy's BLAS on 2 threads next to single-threaded torch, 34 ms with every pool at 1 thread).

Thread count and results: torch's CPU matrix products split their sums over the threads it
is given, so the trained weights differ in the last bits between torch thread counts
(measured: DFA on MNIST-1D, same seed, 1 vs 2 torch threads, different weights after 3 epochs),
and torch offers no switch that makes CPU reductions independent of the thread count
(``torch.use_deterministic_algorithms`` fixes the order for a given setting, not across
settings). So ``torch_threads`` is separate: :func:`set_threads` gives torch one thread unless
asked otherwise, and the ``threads`` argument then only sizes numba's and BLAS's pools (the
optical simulation), which compute each output with a fixed summation order whatever their
thread count. A run with ``torch_threads = 1`` (the default of ``dfa train`` and ``dfa
reproduce``) is therefore the same bit for bit whatever ``threads`` is; a run with more torch
threads is reproducible for that count only, and its difference from the 1-thread run is a
seed-like perturbation (``docs/results/training.md`` measures it against the seed interval).
"""

from __future__ import annotations

import logging

from photonics.errors import ConfigError
from photonics.thread_defaults import settings as photonics_thread_settings

__all__ = ["set_threads"]

log = logging.getLogger(__name__)


def set_threads(n: int, torch_threads: int | None = None) -> dict:
    """Use ``n`` threads in numba and numpy's BLAS and ``torch_threads`` (default ``n``) in torch; returns the previous counts.

    The BLAS limit goes through threadpoolctl (installed with scikit-learn). Pass
    ``torch_threads=1`` for results that do not depend on ``n`` (module docstring).
    """
    import numba
    import torch

    for name, v in (("threads", n), ("torch_threads", n if torch_threads is None else torch_threads)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be an integer >= 1 (got {v!r})")
    before = {"torch": torch.get_num_threads(), "numba": numba.get_num_threads()}
    late = photonics_thread_settings()["set_after_load"]
    if late and max(n, torch_threads or n) > 1:
        log.warning("%s set after numpy/torch had loaded (imported before photonics or dfa): their thread pools keep busy-waiting "
                    "against each other, and a training step with several threads can be ~3x slower; import dfa or photonics "
                    "first, or set these variables before starting Python (see photonics.thread_defaults)", " and ".join(late))
    torch.set_num_threads(n if torch_threads is None else torch_threads)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        before["blas"] = max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=None)
        threadpool_limits(limits=n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        before["blas"] = None
    return before
