"""A lightonml-compatible facade: run code written for LightOn's OPU on the simulated device.

Code written against ``lightonml`` runs here by changing its imports from ``lightonml`` to
``photonics.compat.lightonml`` (same module layout: ``.encoding.base``, ``.projections.sklearn``,
``.projections.torch``, ``.types``, ``.context``), or unchanged after
``photonics.compat.install_lightonml()``. Behind it is a :class:`photonics.OPU` built from
any preset or TOML device, so camera noise, the DMD's finite contrast, the reference-based
linear scheme and device-time accounting all apply::

    from photonics.compat.lightonml import OPU
    from photonics.compat.lightonml.encoding.base import SeparatedBitPlanEncoder, SeparatedBitPlanDecoder

    opu = OPU(n_components=1000, max_n_features=784, device="lab-cmos", seed=0)
    opu.fit1d(n_features=784)
    y = opu.transform(x_binary)                                   # |R x|^2, float32 DN
    z = opu.linear_transform(x_real, SeparatedBitPlanEncoder, SeparatedBitPlanDecoder)   # R x
    opu.frames_used, opu.device_time_s, y.context.frames

What the calls compute (x binary, features on the first n_features input modes, the other
modes OFF; i < n_components)::

    transform(x)_i        = G_i s |alpha (T x)_i + c_i|^2 + dark + noise                    [DN]
    linear_transform(x)_i = ((B x)_i + noise) / (sigma_B sqrt(n_features))   (rescale="variance")

with T the medium's transmission matrix, G_i s the pixel's DN per unit |field|^2, c the field
of leaking OFF mirrors, B the effective linear matrix of the reference scheme and sigma_B the
standard deviation of its entries (measured on the device, :meth:`OPU.linear_stdev`).

Documented differences from lightonml
-------------------------------------
* Always simulated. ``simulated`` is accepted and ignored; ``opu_device`` is a
  :class:`photonics.OPU`; the device is chosen with the keyword ``device=`` (preset, TOML,
  ``DeviceConfig``), ``config_file=`` (a device TOML, not LightOn's hardware JSON) and
  ``config_override=`` (device settings, nested or dotted). ``seed=`` (keyword) fixes the
  medium and the noise: same seed and calls, same outputs. Default device: ``"lab-cmos"``
  (a noisy 8-bit camera); ``device="ideal"`` is the noiseless one.
* ``transform`` returns float32 DN above the camera's black level, with shot/read/dark
  noise, fixed patterns and ADC rounding, not the hardware's uint8 counts nor the
  noiseless |R x|^2 (E|R_ij|^2 = 2 / n_features) of lightonml's ``SimulatedOpuDevice``.
* ``linear_transform`` uses the reference (holographic) scheme of ``photonics.OPU.linear``:
  2 camera frames per binary input (``exact``) or 1 (``strong-reference``), plus a reference
  calibration on first use. sigma_B is measured with ``n_rescale_probes`` probe pairs on the
  first rescaled call (frames accounted), where lightonml reads a factory value. Packed
  input is accepted.
* Feature j drives input mode j (one mode = the device's macropixel of mirrors); the
  unused modes stay OFF and leak light per the DMD contrast. ``input_roi_strategy`` is
  stored but not modelled; 2-D features are flattened row-major.
* When the OPU builds its device, any ``n_components`` is simulated exactly (no camera ROI
  limits; ``max_n_components`` is None). Changing ``n_components`` or ``max_n_features``
  builds a new device from the same seed (a different medium realisation of the new size);
  frames and device time keep adding up. With ``opu_device`` the outputs are its first
  ``n_components`` pixels (an output ROI) and nothing is rebuilt.
* ``open``/``close`` only mark the OPU usable (there is no hardware to reserve); ``online``
  has no effect; transform-setting ``**override`` arguments are refused.
* Errors are :mod:`photonics.errors` exceptions (subclasses of ValueError / TypeError)
  instead of AssertionError / RuntimeError; messages name the parameter and the range.
* ``Context`` carries wall-clock ``start``/``end`` and, in addition, ``frames``,
  ``device_time_s`` and ``gain_e_per_dn``; ``gain`` (dB) is None.
* ``OPUMap`` adapters: ``max_n_features=None`` sizes the OPU to the first fit; ``linear=``
  selects ``linear_transform``; the torch adapter returns float32 tensors on the input's
  torch device. Encoder differences are listed in :mod:`.encoding.base`.
* Not provided: ``lightonml.datasets``, ``lightonml.encoding.models``, ``Float32Encoder``,
  ``ConcatenatedFloat32Encoder``, ``MixingBitPlanDecoder``, ``set_ml_data_dir`` and the
  ``lightonml.internal`` hardware modules.
"""

from __future__ import annotations

from ... import __version__
from .context import Context, ContextArray
from .opu import OPU
from .types import FeaturesFormat, InputRoiStrategy, OutputRescaling, OutputRoiStrategy
from .verbosity import get_verbose_level, set_verbose_level

__all__ = [
    "__version__",
    "OPU",
    "Context",
    "ContextArray",
    "OutputRescaling",
    "InputRoiStrategy",
    "OutputRoiStrategy",
    "FeaturesFormat",
    "set_verbose_level",
    "get_verbose_level",
]
