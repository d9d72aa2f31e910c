"""CPU threads of the three compute libraries a training step uses.

A step runs torch (the model), numba (the OPU's intensity and camera kernels) and the BLAS
behind numpy (the OPU's field GEMM). Each keeps its own thread pool; on a small or shared
machine, pools that spin while another library computes slow small steps down several times
(measured: an optical-DFA step of an MLP 40-1024-1024-10 with 3-bit errors takes 92 ms with
numpy's BLAS on 2 threads next to single-threaded torch, 34 ms with every pool at 1 thread).
Results are identical for a given setting; they may differ in the last bits between settings.
"""

from __future__ import annotations

from photonics.errors import ConfigError

__all__ = ["set_threads"]


def set_threads(n: int) -> dict:
    """Use ``n`` threads in torch, numba and numpy's BLAS; returns the previous counts.

    The BLAS limit goes through threadpoolctl (installed with scikit-learn).
    """
    import numba
    import torch

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"threads must be an integer >= 1 (got {n!r})")
    before = {"torch": torch.get_num_threads(), "numba": numba.get_num_threads()}
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        before["blas"] = max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=None)
        threadpool_limits(limits=n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        before["blas"] = None
    return before
