"""Fixtures of the dfa tests: one CPU thread per compute library (torch, numba, BLAS).

The models here are small and the machine is shared: thread pools that spin while another
library computes slow small steps down several times (see dfa.threads). Results are
deterministic for a given thread count; the settings are restored after each module.
"""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    t, n = torch.get_num_threads(), numba.get_num_threads()
    with threadpool_limits(limits=1, user_api="blas"):
        torch.set_num_threads(1)
        numba.set_num_threads(1)
        yield
    torch.set_num_threads(t)
    numba.set_num_threads(n)
