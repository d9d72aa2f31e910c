"""Compute backends for the simulated optical chain beyond numpy/numba.

* :mod:`photonics.backends.torch_kernels`: the counter-based generator, the procedural TM
  blocks, the intensity and the camera read-out ported to PyTorch (same numbers as numpy);
* :mod:`photonics.backends.torch_opu`: :class:`~photonics.backends.torch_opu.TorchOPU`, a
  device's projection on a torch device (CPU or CUDA) through the OPU's public seam.

torch is imported only when these modules' functions run.
"""
