"""The simulated optical chain in PyTorch (:class:`TorchOPU`), on CPU or CUDA, with the numpy path's numbers.

``TorchOPU(opu, device)`` runs an existing :class:`photonics.OPU`'s projection on a torch
device: the split GEMM ``x @ [Re T^T | Im T^T]``, the intensity ``s |alpha T x + c|^2`` and the
camera read-out (Poisson shot noise, full well, read noise, gain, ADC). It shares the
wrapped OPU's frame counter (device time), so ``TorchOPU(opu).project(x)`` equals what
``opu.project(x)`` would have returned from the same state:

* the counter-based generator of :mod:`photonics.kernels` (SplitMix64 words, 256-layer
  ziggurat, Poisson by inversion / PTRS) is ported to torch on int64 tensors (two's-complement
  wrap-around of int64 multiplication equals uint64 arithmetic; logical right shifts are
  masked arithmetic shifts), so the noise draws, the procedural TM and the pixel maps are the
  same numbers as numpy's;
* the GEMM runs in torch's BLAS (or cuBLAS) instead of OpenBLAS, so fields agree within
  float32 rounding (relative ~1e-6), and a quantized DN or a Poisson draw can differ where
  that rounding crosses a decision boundary (a fraction of order 1e-6 of the pixels). On a CPU
  device the default (``gemm="auto"``) computes the field with the medium's own numpy GEMM
  (zero-copy), and the camera with the numba kernel: then every number equals the numpy
  path's bit for bit (tested), and the torch side (frames, intensity, the linear scheme's
  arithmetic) is the one a CUDA run uses.

:meth:`TorchOPU.linear_frames` is the inner fast path of the optical DFA feedback: binary float32
frames already on the device, no checks, the field of each frame computed once for both
exposures of the exact scheme, and every constant (reference levels, normalisation, the
constant fields, the camera's pixel maps) cached on the device, so that a CUDA step moves no
array between host and device (only the frame count reaches the host, for the clock).

torch is imported inside the functions (``photonics`` never imports torch at import time).
The device is an argument (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``); nothing
here assumes CUDA.

It reaches the device only through the OPU's public seam: the medium's TM blocks
(``GaussianMedium.split_block`` / its counter-based generator's key, sigma and block rows),
:meth:`photonics.OPU.constant_field`, the modulator's field step ``alpha``, ``power_scale``,
:meth:`photonics.camera.Camera.kernel_parameters` and the frame clock
:meth:`photonics.OPU.reserve_frames`; a change of the device's logic is made there.

Not supported here: encoders (encode on the numpy side first), phase-SLM modulators, media
that change with time (drift) and media other than :class:`~photonics.medium.GaussianMedium` when their dense
matrix is too large to copy.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import kernels as K
from ..config import LINEAR_SCHEMES
from ..errors import DTypeError, ShapeError, ValidationError
from ..validation import check_choice
from .torch_kernels import _torch, camera_torch, gaussian_block_torch, intensity_torch

log = logging.getLogger(__name__)

__all__ = ["TorchOPU", "default_device"]


class TorchOPU:
    """Run a :class:`photonics.OPU`'s projection and camera chain with torch on ``device``.

    Parameters
    ----------
    opu : photonics.OPU
        The device to mirror. Its config, medium, pixel maps, reference calibration and frame
        counter are used; frames acquired here advance ``opu.frames_used`` and its device
        time exactly as ``opu.project`` would.
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:0"``...
    generate : {"auto", "torch", "numpy"}
        Where a procedural TM block is generated: ``"torch"`` on the device (the torch port of
        the counter-based generator), ``"numpy"`` with the numba kernel on the host, then
        copied; ``"auto"`` picks numba for CPU devices and torch otherwise. A dense medium is
        copied to the device once.
    camera : {"auto", "torch", "numpy"}
        Where the camera read-out runs: ``"torch"`` (the torch port, on the device) or
        ``"numpy"`` (the numba kernel on the host, same numbers); ``"auto"`` picks numba for
        CPU devices (faster there: the torch port's vectorised rejection samplers make many
        passes) and torch otherwise.
    gemm : {"auto", "torch", "numpy"}
        Where the field x T^T is computed: ``"torch"`` (torch's BLAS / cuBLAS on the device,
        from the medium's blocks) or ``"numpy"`` (the medium's own ``split_field``, as
        :class:`photonics.OPU` does, on the host: bit-identical fields); ``"auto"`` picks numpy
        for CPU devices and torch otherwise.

    Examples
    --------
    >>> topu = TorchOPU(OPU(DeviceConfig.preset("lab-cmos", n_in=256, n_out=512), seed=0), device="cpu")
    >>> y = topu.project(x)       # torch.float32 (batch, 512) on the device
    """

    def __init__(self, opu, device="cpu", *, generate: str = "auto", camera: str = "auto", gemm: str = "auto"):
        torch = _torch()
        from ..device import OPU
        from ..medium import GaussianMedium

        if not isinstance(opu, OPU):
            raise ValidationError(f"opu must be a photonics.OPU (got {type(opu).__name__})")
        self.opu = opu
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValidationError(f"device must name a torch device such as 'cpu' or 'cuda' (got {device!r}: {exc})") from None
        check_choice(generate, "generate", ("auto", "torch", "numpy"), error=ValidationError)
        if generate == "auto":
            generate = "numpy" if self.device.type == "cpu" else "torch"
        self.generate = generate
        check_choice(camera, "camera", ("auto", "torch", "numpy"), error=ValidationError)
        if camera == "auto":
            camera = "numpy" if self.device.type == "cpu" else "torch"
        self.camera_backend = camera
        check_choice(gemm, "gemm", ("auto", "torch", "numpy"), error=ValidationError)
        if gemm == "auto":
            gemm = "numpy" if self.device.type == "cpu" else "torch"
        self.gemm = gemm
        if getattr(opu.modulator, "kind", "dmd") != "dmd":
            raise ValidationError(f"TorchOPU supports binary-DMD devices only (this device's modulator is {opu.modulator.kind!r})")
        medium = opu.medium
        if not medium.is_static:
            raise ValidationError("TorchOPU supports static media only (this medium changes with device time)")
        self._gaussian = isinstance(medium, GaussianMedium)
        self._procedural = self._gaussian and medium.procedural
        cfg = opu.config
        self.n_in, self.n_out = cfg.n_in, cfg.n_out
        self._w = None
        if not self._procedural and self.gemm == "torch":
            self._w = self._dense_split(medium)
        self.alpha = float(opu.modulator.alpha)
        self.power_scale = float(opu.power_scale)
        self._const = {}
        self._cam_cache = {}
        self._lin_cache = None

    # -- set-up ----------------------------------------------------------------------------------
    def _dense_split(self, medium):
        torch = _torch()
        n_in, n_out = self.n_in, self.n_out
        if self._gaussian:
            w = medium.split_block(slice(0, n_out), slice(0, n_in))
        else:
            t = medium.matrix(None, slice(0, n_in))
            w = np.concatenate([t.real.T, t.imag.T], axis=1).astype(np.float32)
        return torch.as_tensor(np.ascontiguousarray(w), device=self.device)

    def _constant(self, ref_on: bool):
        torch = _torch()
        if ref_on not in self._const:
            c = self.opu.constant_field(ref_on)
            self._const[ref_on] = (
                torch.as_tensor(c.real.astype(np.float32), device=self.device),
                torch.as_tensor(c.imag.astype(np.float32), device=self.device),
            )
        return self._const[ref_on]

    def _camera(self, exposure_s: float):
        """The camera's kernel parameters of an exposure, with the per-pixel arrays on the device."""
        torch = _torch()
        if exposure_s not in self._cam_cache:
            k = self.opu.camera.kernel_parameters(exposure_s)
            arrays = tuple(torch.as_tensor(a, dtype=torch.float64, device=self.device) for a in (k.e_per_w, k.dark_e, k.offset_dn))
            self._cam_cache[exposure_s] = (k, arrays)
        return self._cam_cache[exposure_s]

    # -- inputs -----------------------------------------------------------------------------------
    def as_frames(self, x, name: str = "x"):
        """Binary frames (N, n_in) as float32 on the device, and whether x was a single vector."""
        torch = _torch()
        if isinstance(x, torch.Tensor):
            t = x
        else:
            arr = np.asarray(x)
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
                raise DTypeError(f"{name} must be a numeric or boolean array of DMD frames (got dtype {arr.dtype})")
            t = torch.as_tensor(arr)
        if t.is_complex():
            raise DTypeError(f"{name} must be real binary frames (got complex dtype {t.dtype})")
        if t.ndim not in (1, 2) or t.shape[-1] != self.n_in:
            raise ShapeError(f"{name} must be (n_in,) or (batch, n_in) binary frames with n_in={self.n_in} (got shape {tuple(t.shape)})")
        single = t.ndim == 1
        t = t.reshape(-1, self.n_in).to(self.device)
        if t.dtype != torch.bool:
            ok = (t == 0) | (t == 1)
            if not bool(ok.all()):
                bad = t[~ok].reshape(-1)[0].item()
                raise ValidationError(
                    f"{name} must be binary DMD frames with entries in {{0, 1}} (found value {bad!r}); "
                    "encode real inputs first, e.g. with photonics.encoding.BitPlaneEncoder"
                )
        return t.to(torch.float32), single

    # -- the chain --------------------------------------------------------------------------------
    def split_field(self, xf):
        """[Re | Im] of x T^T, (batch, 2 n_out) float32 on the device, for float32 frames ``xf``."""
        torch = _torch()
        if self.gemm == "numpy":
            host = xf.detach().to("cpu").numpy()
            split = self.opu.modulator.split_field(self.opu.medium, host, self.opu.device_time_s)
            return torch.as_tensor(split, device=self.device)
        if self._w is not None:
            return xf @ self._w
        med = self.opu.medium
        n_out, n_in = self.n_out, self.n_in
        out = torch.empty((xf.shape[0], 2 * n_out), dtype=torch.float32, device=self.device)
        br = med.block_rows
        for r0 in range(0, n_out, br):
            r1 = min(r0 + br, n_out)
            k = r1 - r0
            if self.generate == "torch":
                blk = gaussian_block_torch(int(med.key), r0, k, 0, n_in, med.sigma, self.device)
            else:
                host = np.empty((n_in, 2 * k), dtype=np.float32)
                K.gaussian_block_fast_numba(med.key, r0, k, 0, n_in, med.sigma, host)
                blk = torch.as_tensor(host, device=self.device)
            y = xf @ blk
            out[:, r0:r1] = y[:, :k]
            out[:, n_out + r0 : n_out + r1] = y[:, k:]
        return out

    def power(self, frames, *, reference: bool = False):
        """Noise-free optical power (N, n_out) float32 [W] for binary frames (does not advance the clock)."""
        xf, _ = self.as_frames(frames, "frames")
        return self._power(xf, reference)

    def _power(self, xf, ref_on: bool):
        c_re, c_im = self._constant(ref_on)
        return intensity_torch(self.split_field(xf), self.alpha, c_re, c_im, self.power_scale)

    def read(self, power_w, frame0: int, exposure_s: float | None = None):
        """Camera read-out of ``power_w`` (N, n_out) [W] as frames ``frame0...``; DN (camera dtype).

        Returns uint8 for cameras of <= 8 bits, int32 for deeper ADCs (torch has no full
        uint16 arithmetic), float32 when not quantized. Does not advance the clock.
        """
        torch = _torch()
        exposure_s = self.opu.camera.check_exposure(exposure_s)
        if self.camera_backend == "numpy":
            host = power_w.detach().to("cpu").numpy()
            dn = self.opu.camera.read(np.ascontiguousarray(host, dtype=np.float32), int(frame0), exposure_s)
            if dn.dtype == np.uint16:
                dn = dn.astype(np.int32)
            return torch.as_tensor(dn, device=self.device)
        k, (e_per_w, dark_e, offset_dn) = self._camera(exposure_s)
        dn = camera_torch(power_w, e_per_w, dark_e, offset_dn, k.read_noise_e, k.full_well_e, k.dn_per_e, k.max_dn,
                          k.shot_noise, k.clip_full_well, k.quantize, int(k.key_shot), int(k.key_read), int(frame0))
        if not k.quantize:
            return dn.to(torch.float32)
        return dn.to(torch.uint8 if np.dtype(k.output_dtype).itemsize == 1 else torch.int32)

    def _chunk(self) -> int:
        per_frame = 8 * (2 * self.n_out + self.n_out + self.n_in) + 16 * self.n_out
        return max(1, (256 * 1024**2) // per_frame)

    def _acquire(self, xf, *, ref_on: bool, exposure_s: float):
        torch = _torch()
        n = xf.shape[0]
        outs = []
        step = self._chunk()
        for s in range(0, n, step):
            e = min(s + step, n)
            p = self._power(xf[s:e], ref_on)
            outs.append(self.read(p, self.opu.reserve_frames(e - s), exposure_s))  # the wrapped device's clock
        return torch.cat(outs, dim=0) if len(outs) > 1 else outs[0]

    def _linear_constants(self, cal, scheme: str):
        """(level, normalisation) float32 tensors of a calibration on the device (cached per calibration)."""
        torch = _torch()
        c = self._lin_cache
        if c is not None and c[0] is cal and c[1] == scheme:
            return c[2], c[3]
        level = (cal.z_dn if scheme == "exact" else cal.r_dn).astype(np.float32)
        level_t = torch.as_tensor(level, device=self.device)
        norm_t = torch.as_tensor(cal.normalisation(scheme), device=self.device)
        self._lin_cache = (cal, scheme, level_t, norm_t)
        return level_t, norm_t

    def linear_frames(self, xf, *, exposure_s: float | None = None):
        """Inner fast path of :meth:`linear`: float32 binary frames (N, n_in) on the device, no checks.

        The numbers of :meth:`photonics.OPU.linear` for the same frames and clock (bit for bit on a
        CPU device with the default ``gemm``/``camera``): y = (I(x + r) - I(x) - Z) / N (exact
        scheme, frames x + r first, then x) or (I(x + r) - R) / N, in float32, in that order. The
        field x T^T is computed once per frame for both exposures. Returns float32 (N, n_out).
        """
        torch = _torch()
        opu = self.opu
        scheme = opu.config.reference.scheme
        exposure_s = opu.camera.check_exposure(exposure_s)
        cal = opu.reference_for(exposure_s)
        level, norm = self._linear_constants(cal, scheme)
        n = int(xf.shape[0])
        exact = scheme == "exact"
        # the numpy device acquires all "on" frames, then all "off" frames: frame s is f0 + s, then f0 + n + s
        f0 = opu.reserve_frames(2 * n if exact else n)
        out = torch.empty((n, self.n_out), dtype=torch.float32, device=self.device)
        step = self._chunk()
        for s in range(0, n, step):
            e = min(s + step, n)
            split = self.split_field(xf[s:e])
            c_re, c_im = self._constant(True)
            y = self.read(intensity_torch(split, self.alpha, c_re, c_im, self.power_scale), f0 + s, exposure_s).to(torch.float32)
            if exact:
                c_re, c_im = self._constant(False)
                y -= self.read(intensity_torch(split, self.alpha, c_re, c_im, self.power_scale), f0 + n + s, exposure_s).to(torch.float32)
            y -= level
            y /= norm
            out[s:e] = y
        return out

    # -- public operations ------------------------------------------------------------------------
    def project(self, x, *, raw: bool = False, exposure_s: float | None = None):
        """Native projection of binary frames, as :meth:`photonics.OPU.project` (no encoder).

        Returns a float32 tensor (batch, n_out) of DN above the black level, or with
        ``raw=True`` the camera frames (batch, n_out).
        """
        torch = _torch()
        xf, single = self.as_frames(x)
        exposure_s = self.opu.camera.check_exposure(exposure_s)
        dn = self._acquire(xf, ref_on=False, exposure_s=exposure_s)
        if raw:
            return dn[0] if single else dn
        y = dn.to(torch.float32) - float(self.opu.config.camera.black_level_dn)
        return y[0] if single else y

    def linear(self, x, *, scheme: str | None = None, exposure_s: float | None = None):
        """Linear projection through the reference, as :meth:`photonics.OPU.linear` (no encoder).

        The reference levels are those of the wrapped OPU (measured there on first use, which
        costs the same calibration frames as with numpy). Returns float32 (batch, n_out).
        """
        torch = _torch()
        opu = self.opu
        scheme = check_choice(scheme or opu.config.reference.scheme, "scheme", LINEAR_SCHEMES, error=ValidationError)
        xf, single = self.as_frames(x)
        exposure_s = opu.camera.check_exposure(exposure_s)
        cal = opu.reference_for(exposure_s)
        if scheme == opu.config.reference.scheme:
            y = self.linear_frames(xf, exposure_s=exposure_s)
            return y[0] if single else y
        on = self._acquire(xf, ref_on=True, exposure_s=exposure_s).to(torch.float32)
        norm = torch.as_tensor(cal.normalisation(scheme), device=self.device)
        if scheme == "exact":
            off = self._acquire(xf, ref_on=False, exposure_s=exposure_s).to(torch.float32)
            z = torch.as_tensor(cal.z_dn.astype(np.float32), device=self.device)
            y = (on - off - z) / norm
        else:
            r = torch.as_tensor(cal.r_dn.astype(np.float32), device=self.device)
            y = (on - r) / norm
        return y[0] if single else y

    def __repr__(self) -> str:
        kind = "procedural" if self._procedural else "dense"
        return f"TorchOPU({self.opu!r}, device={str(self.device)!r}, {kind}, camera={self.camera_backend}, gemm={self.gemm})"


def default_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    torch = _torch()
    return "cuda" if torch.cuda.is_available() else "cpu"

