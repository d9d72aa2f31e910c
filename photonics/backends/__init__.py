"""Compute backends for the simulated optical chain beyond numpy/numba.

* :mod:`photonics.backends.torch_backend`: the projection, the intensity and the camera chain
  in PyTorch, on CPU or CUDA (``TorchOPU``), with the counter-based generator ported so that
  the numbers match the numpy path. torch is imported only when that module's functions run.
"""
