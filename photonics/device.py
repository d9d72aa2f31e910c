"""The optical processing unit: DMD -> medium -> camera, with device-time accounting.

For a binary frame x (n_in,) the camera pixel i receives the power

    P_i = s * |alpha (T x)_i + c_i|^2,     s = transmission * n_in / n_out   [W per |field|^2]

with alpha the DMD's ON-OFF field step and c the constant field of leaking OFF mirrors and of
the reference block (ON or OFF). The camera turns P into DN (shot/read/dark noise, PRNU/DSNU,
full well, gain, ADC). Every frame costs one frame period of device time.

``OPU.project`` returns that native intensity projection; ``OPU.linear`` recovers a real
linear projection B x from intensities with the reference block (DESIGN section 5).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import kernels
from .camera import Camera
from .config import DENSE_LIMIT_BYTES, LINEAR_SCHEMES, DeviceConfig
from .dmd import DMD
from .encoding import Encoder
from .errors import FileFormatError, ShapeError, ValidationError
from .instrument import interruptible
from .io import atomic_h5, open_h5
from .medium import Medium, build_medium
from .records import stored_device_config
from .rng import check_seed
from .validation import check_allocation, check_choice, check_int, check_real

log = logging.getLogger(__name__)

__all__ = ["OPU", "ReferenceCalibration", "reference_normalisation", "save_device", "load_device"]

#: Bytes of float32 work memory per projection chunk (split field + power + DN).
CHUNK_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class ReferenceCalibration:
    """Measured reference levels used by :meth:`OPU.linear` (per pixel, DN).

    Attributes
    ----------
    z_dn : ndarray
        Z = <I(r)> - <I(0)>: the reference's own intensity term (exact scheme) [DN].
    r_dn : ndarray
        R = <I(r)>: mean frame with only the reference ON (strong-reference scheme) [DN].
    dark_dn : ndarray
        D: mean dark frame, laser blocked [DN].
    n_frames : int
        Frames averaged for each of the three levels.
    exposure_s : float
        Exposure they were measured at [s].
    device_time_s : float
        Device time at the end of the measurement [s] (tells how stale it is under drift).
    """

    z_dn: np.ndarray
    r_dn: np.ndarray
    dark_dn: np.ndarray
    n_frames: int
    exposure_s: float
    device_time_s: float
    min_level_fraction: float = 0.05

    def level(self, scheme: str) -> np.ndarray:
        """Reference level the scheme divides by: Z (exact) or R - D (strong-reference) [DN]."""
        return self.z_dn if scheme == "exact" else self.r_dn - self.dark_dn

    def normalisation(self, scheme: str) -> np.ndarray:
        """Per-pixel divisor 2 sqrt(max(level, floor)), floor = min_level_fraction * median(level)."""
        return reference_normalisation(self.level(scheme), self.min_level_fraction)


def reference_normalisation(level: np.ndarray, min_level_fraction: float) -> np.ndarray:
    """2 sqrt(max(level, f * median(level), tiny)) as float32: the divisor of a linear projection."""
    level = np.asarray(level, dtype=np.float64)
    floor = max(min_level_fraction * float(np.median(level)), 1e-30)
    return (2.0 * np.sqrt(np.maximum(level, floor))).astype(np.float32)


def device_memory_bytes(config: DeviceConfig) -> int:
    """Memory a device of ``config`` holds at the least [bytes]: the camera's per-pixel maps and
    read-out parameters (about 8 float64 arrays of n_out), the constant fields (2 complex128
    arrays) and the medium: a dense TM (complex64 and its float32 split layout, 16 bytes per
    entry) or, procedural, one block of at least one row over every input column. The
    projection's own work space is bounded separately (:data:`CHUNK_BYTES`)."""
    from .config import PROCEDURAL_MODELS

    n_out, n_cols = int(config.n_out), int(config.n_modes_total)
    per_pixel = 8 * 8 * n_out + 2 * 16 * n_out
    mc = config.medium
    procedural = mc.storage == "procedural" or (
        mc.storage == "auto" and mc.model in PROCEDURAL_MODELS and n_out * n_cols * 8 > DENSE_LIMIT_BYTES)
    medium = 16 * n_cols * max(1, min(n_out, 8)) if procedural else 16 * n_out * n_cols
    return int(per_pixel + medium)


class OPU:
    """A simulated optical processing unit.

    Parameters
    ----------
    config : DeviceConfig or str
        The device, or a preset name / TOML path (see :meth:`DeviceConfig.resolve`).
    seed : int
        Master seed. The medium (unless ``config.medium.seed`` pins it), the camera's pixel
        maps and the per-frame noise are independent streams derived from it.
    medium : Medium, optional
        Use this medium instead of building one from the config (e.g. a measured TM); its
        shape must match the config.
    progress : bool
        Show a progress bar for acquisitions of many chunks.

    Examples
    --------
    >>> from photonics import OPU, DeviceConfig
    >>> opu = OPU(DeviceConfig.preset("lab-cmos", n_in=256, n_out=512), seed=0)
    >>> y = opu.project(x_binary)          # (batch, 512) float32, DN above black level
    >>> z = opu.linear(x_binary)           # (batch, 512) float32, ~ B x
    """

    def __init__(self, config: DeviceConfig | str, seed: int = 0, *, medium: Medium | None = None, progress: bool = False):
        self.config = config if isinstance(config, DeviceConfig) else DeviceConfig.resolve(config)
        self.seed = check_seed(seed)
        cfg = self.config
        if medium is None:
            check_allocation(device_memory_bytes(cfg), f"a device of n_in={cfg.n_in} and n_out={cfg.n_out} (medium.n_in, medium.n_out)",
                             "lower medium.n_in or medium.n_out")
            medium = build_medium(cfg, self.seed, progress=bool(progress))
        elif not isinstance(medium, Medium):
            raise ValidationError(f"medium must be a photonics.medium.Medium (got {type(medium).__name__})")
        if medium.n_in != cfg.n_in or medium.n_out != cfg.n_out or medium.n_cols < cfg.n_modes_total:
            raise ShapeError(
                f"medium is {medium.n_out} x {medium.n_cols} (n_in={medium.n_in}) but the config needs "
                f"n_out={cfg.n_out}, n_in={cfg.n_in} and {cfg.n_modes_total} columns (signal + reference)"
            )
        self.medium = medium
        if cfg.modulator == "slm":
            from .slm import PhaseSLM

            self.modulator = PhaseSLM(cfg)
        else:
            self.modulator = DMD(cfg)
        self.camera = Camera(cfg.camera, cfg.laser.wavelength_m, cfg.n_out, self.seed)
        self.power_scale = cfg.medium.transmission * cfg.n_in / cfg.n_out
        self.progress = bool(progress)
        self._frames = 0
        self._idle_s = 0.0
        # read on every call: plain numbers (the config is frozen)
        self._n_in, self._n_out, self._frame_period_s = int(cfg.n_in), int(cfg.n_out), float(cfg.frame_period_s)
        #: working memory of one frame in a chunk: split field, power or readings, input, output [bytes]
        self._bytes_per_frame = 4 * (3 * self._n_out + self._n_in) + 2 * self._n_out
        self._const_cache: dict[bool, np.ndarray] = {}
        self._difference_plans: dict[float, tuple | None] = {}  # exposure [s] -> fused kernel arguments
        self._refcal: ReferenceCalibration | None = None

    # ---- sizes and clock ----------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return self._n_in

    @property
    def n_out(self) -> int:
        return self._n_out

    @property
    def frames_used(self) -> int:
        """Camera frames acquired so far (calibration frames included)."""
        return self._frames

    @property
    def device_time_s(self) -> float:
        """Simulated device time so far: frames x frame period + idle time [s]."""
        return self._frames * self._frame_period_s + self._idle_s

    def reserve_frames(self, n: int) -> int:
        """Advance the frame clock by ``n`` frames; return the global index of the first.

        The seam for compute backends (:mod:`photonics.backends`) that acquire frames outside
        this object: frame ``k`` draws the noise realisation of global frame ``k``, and every
        frame costs one frame period of device time, whoever computes it.
        """
        if type(n) is not int or n < 0:  # exact non-negative ints (every internal call) skip the validator
            n = check_int(n, "n", low=0, error=ValidationError)
        first = self._frames
        self._frames += n
        return first

    def wait(self, seconds: float) -> None:
        """Let device time pass without acquiring (the medium may drift meanwhile) [s]."""
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
            raise ValidationError(f"seconds must be a finite number >= 0 (got {seconds!r})")
        self._idle_s += float(seconds)

    # ---- the optical chain ----------------------------------------------------------------------
    def reference_state(self, reference) -> bool | tuple:
        """The reference block's state as a hashable key: ``False`` (all OFF), ``True`` (all ON),
        or ``("mask", bytes)`` for some reference mirrors ON.

        ``reference``: a bool, or a mask of n_reference 0/1 values (which mirrors of the
        reference block are ON, in the order of the reference columns).
        """
        if isinstance(reference, (bool, np.bool_)):
            return bool(reference)
        if isinstance(reference, (int, np.integer)) and reference in (0, 1):
            return bool(reference)
        if isinstance(reference, tuple) and len(reference) == 2 and reference[0] == "mask":
            return reference
        n_ref = self.config.n_reference
        m = np.asarray(reference)
        if m.ndim != 1 or m.shape[0] != n_ref or m.dtype.kind not in "biu" or not np.all((m == 0) | (m == 1)):
            raise ValidationError(f"reference must be True, False or a 0/1 mask of the {n_ref} reference mirrors "
                                  f"(got {reference!r:.80})")
        m = m.astype(bool)
        if m.all():
            return True
        if not m.any():
            return False
        return ("mask", np.packbits(m).tobytes() + n_ref.to_bytes(4, "little"))

    def _reference_runs(self, key) -> list[tuple[slice, bool]]:
        """Contiguous runs of reference columns with their ON/OFF state, for a reference key."""
        cfg = self.config
        if key is True or key is False:
            return [(slice(cfg.n_in, cfg.n_modes_total), key)]
        n_ref = cfg.n_reference
        m = np.unpackbits(np.frombuffer(key[1][:-4], dtype=np.uint8))[:n_ref].astype(bool)
        runs, start = [], 0
        for j in range(1, n_ref + 1):
            if j == n_ref or m[j] != m[start]:
                runs.append((slice(cfg.n_in + start, cfg.n_in + j), bool(m[start])))
                start = j
        return runs

    def constant_field(self, ref_on, time_s: float | None = None) -> np.ndarray:
        """Constant field c (complex128, n_out) added to every frame: leaking OFF signal modes +
        reference block (ON, OFF, or some mirrors ON: see :meth:`reference_state`), in the
        medium's field units, at device time ``time_s`` (default now). Part of the seam a
        compute backend uses (see :meth:`reserve_frames`).

        c = beta sum_j T_ij + sum_r a_r R_ir (signal mirrors' leak, each reference mirror at its
        ON or OFF amplitude a_r). A medium with a measured all-OFF field b (a TM retrieved from
        a recording, ``medium.recorded_constant_field``) replaces the modelled all-OFF part:
        c = alpha b + (a_on - a_off) sum_{r ON} R_ir.
        """
        key = self.reference_state(ref_on)
        if time_s is None:
            time_s = self.device_time_s
        if self.medium.is_static and key in self._const_cache:
            return self._const_cache[key]
        cfg = self.config
        dmd = self.modulator
        c = np.zeros(cfg.n_out, dtype=np.complex128)
        recorded = getattr(self.medium, "recorded_constant_field", None)
        if recorded is not None:  # the measured all-OFF field; ON reference mirrors add their step
            c += dmd.alpha * recorded
            amp_of = {True: dmd.reference_amplitude(True) - dmd.reference_amplitude(False), False: 0.0}
        else:
            if dmd.beta > 0:
                c += dmd.beta * self.medium.column_sum(slice(0, cfg.n_in), time_s=time_s)
            amp_of = {True: dmd.reference_amplitude(True), False: dmd.reference_amplitude(False)}
        if cfg.n_reference > 0:
            for cols, on in self._reference_runs(key):
                if amp_of[on] > 0:
                    c += amp_of[on] * self.medium.column_sum(cols, time_s=time_s)
        if self.medium.is_static:
            self._const_cache[key] = c
        return c

    def optical_power(self, frames, *, reference=False, time_s: float | None = None) -> np.ndarray:
        """Noise-free optical power on each pixel for binary frames (N, n_in) [W], float32.

        ``reference`` as in :meth:`acquire` (False, True or a mask of the reference mirrors).
        This is ground truth (what the camera is exposed to); it does not advance the clock.
        """
        f = self.modulator.check_frames(frames)
        t = self.device_time_s if time_s is None else float(time_s)
        return self._power(f, reference, t)

    def _field_constants(self, ref_on, time_s: float) -> tuple:
        """(alpha, Re c, Im c, s) as float32 for the intensity s |alpha E + c|^2 (cached for a static medium)."""
        key = ("f32", self.reference_state(ref_on))
        if self.medium.is_static and key in self._const_cache:
            return self._const_cache[key]
        c = self.constant_field(ref_on, time_s)
        terms = (
            np.float32(self.modulator.alpha),
            np.ascontiguousarray(c.real, dtype=np.float32),
            np.ascontiguousarray(c.imag, dtype=np.float32),
            np.float32(self.power_scale),
        )
        if self.medium.is_static:
            self._const_cache[key] = terms
        return terms

    def _power(self, frames_u8: np.ndarray, ref_on: bool, time_s: float) -> np.ndarray:
        split = self.modulator.split_field(self.medium, frames_u8, time_s)
        alpha, c_re, c_im, scale = self._field_constants(ref_on, time_s)
        out = np.empty((frames_u8.shape[0], self.n_out), dtype=np.float32)
        kern = kernels.intensity_serial if out.size < kernels.SERIAL_BELOW else kernels.intensity_numba
        kern(split, alpha, c_re, c_im, scale, out)
        return out

    def _read_field(self, frames_u8: np.ndarray, ref_on: bool, exposure_s: float, sub_dn, out: np.ndarray) -> None:
        """Field, intensity and camera read-out of N frames into ``out`` (N, n_out); advances the clock.

        One fused kernel turns the split field into camera readings (the numbers of
        ``camera._read(self._power(...))``, see :func:`photonics.kernels.camera_field_numba`):
        ``out`` receives DN, or float32(DN) - float32(sub_dn) when ``sub_dn`` is a number.
        """
        time_s = self.device_time_s
        split = self.modulator.split_field(self.medium, frames_u8, time_s)
        self._read_split(split, ref_on, time_s, exposure_s, sub_dn, self.reserve_frames(frames_u8.shape[0]), out)

    def _read_split(self, split: np.ndarray, ref_on, time_s: float, exposure_s: float, sub_dn, frame0: int, out: np.ndarray) -> None:
        """Camera read-out of frames (global indices frame0, frame0 + 1, ...) from their split field."""
        alpha, c_re, c_im, scale = self._field_constants(ref_on, time_s)
        k = self.camera.kernel_parameters(exposure_s)
        small = out.size < kernels.SERIAL_BELOW
        if k.noiseless:
            kern = kernels.camera_field_noiseless_serial if small else kernels.camera_field_noiseless_numba
            kern(split, alpha, c_re, c_im, scale, *k.noiseless_args(), sub_dn, out)
            return
        kern = kernels.camera_field_serial if small else kernels.camera_field_numba
        kern(split, alpha, c_re, c_im, scale, *k.kernel_args(frame0), sub_dn, out)

    def _chunks(self, n: int):
        """(start, stop) of the chunks of n frames (a progress bar when there are several)."""
        step = self._chunk_frames()
        if n <= step:  # one chunk (the usual case of small calls): no generator, no bar
            return ((0, n),)
        starts = range(0, n, step)
        it = tqdm(starts, desc="frames", unit="chunk", leave=False) if self.progress else starts
        return ((s, min(s + step, n)) for s in interruptible(it))  # a dropped Ctrl-C stops before the next chunk

    def _difference_plan(self, exposure_s: float) -> tuple:
        """The fused exact-scheme kernel's fixed arguments for an exposure on a static medium
        (cached): (alpha, ON field Re, Im, OFF field Re, Im, scale, camera arguments before the
        frame index). At most 16 exposures are kept, as the camera keeps its parameters (an
        exposure sweep must not hold a per-pixel map set for every exposure it visited)."""
        plans = self._difference_plans
        if exposure_s in plans:
            return plans[exposure_s]
        time_s = self.device_time_s  # unused by a static medium's constants
        alpha, on_re, on_im, scale = self._field_constants(True, time_s)
        _, off_re, off_im, _ = self._field_constants(False, time_s)
        plan = (alpha, on_re, on_im, off_re, off_im, scale, *self.camera.kernel_parameters(exposure_s).kernel_args(0)[:-1])
        if len(plans) >= 16:
            plans.clear()
        plans[exposure_s] = plan
        return plan

    def _linear_difference(self, frames_u8: np.ndarray, exposure_s: float, level: np.ndarray, norm: np.ndarray) -> np.ndarray:
        """float32 y = ((I(x + r) - I(x)) - level) / norm of N frames on a static medium: the exact
        scheme with one field computation per frame for both exposures.

        The numbers and the clock of ``_acquire(ref_on=True, sub_dn=0) - _acquire(ref_on=False,
        sub_dn=0)`` followed by ``- level`` and ``/ norm`` in float32: the reference-ON frames take
        the global indices first..first+N-1, the OFF frames first+N..first+2N-1 (the order of the
        two passes); a static medium's field does not depend on the device time, so one GEMM
        serves both exposures, and one kernel reads both (with or without noise:
        :func:`photonics.kernels.camera_field_difference_numba`). This is the optical DFA
        step's inner loop: a few small frames per call, so the fixed arguments are cached
        (:meth:`_difference_plan`).
        """
        n = frames_u8.shape[0]
        time_s = self.device_time_s
        first = self.reserve_frames(2 * n)
        y = np.empty((n, self._n_out), dtype=np.float32)
        plan = self._difference_plan(exposure_s)
        for s, e in self._chunks(n):
            split = self.modulator.split_field(self.medium, frames_u8[s:e], time_s)
            kern = kernels.camera_field_difference_serial if (e - s) * self._n_out < kernels.SERIAL_BELOW else \
                kernels.camera_field_difference_numba
            kern(split, *plan, first + s, first + n + s, level, norm, y[s:e])
        return y

    def _chunk_frames(self) -> int:
        n = max(1, CHUNK_BYTES // self._bytes_per_frame)
        res = getattr(self.medium, "time_resolution_s", None)
        if res is not None:
            n = max(1, min(n, int(res / self._frame_period_s)))
        return n

    def _acquire(self, frames_u8: np.ndarray, *, ref_on: bool, exposure_s: float | None, laser_on: bool = True,
                 sub_dn: float | None = None) -> np.ndarray:
        """Expose the camera to N frames (N, n_in) and return DN (N, n_out); advances the clock.

        With ``sub_dn`` a number the result is float32 DN - sub_dn instead (the same numbers as
        ``np.subtract(DN, np.float32(sub_dn), dtype=np.float32)``, without the DN array).
        """
        n = frames_u8.shape[0]
        dtype = np.float32 if sub_dn is not None else self.config.camera.output_dtype
        sub = None if sub_dn is None else float(sub_dn)
        out = np.empty((n, self.n_out), dtype=dtype)
        for s, e in self._chunks(n):
            if laser_on:
                self._read_field(frames_u8[s:e], ref_on, exposure_s, sub, out[s:e])
            else:
                dn = self.camera._read(np.zeros((e - s, self.n_out), dtype=np.float32), self.reserve_frames(e - s), exposure_s)
                out[s:e] = dn if sub is None else np.subtract(dn, np.float32(sub), dtype=np.float32)
        return out

    def _encode(self, x, encoder: Encoder | None):
        """Frames (F, B, n_in) uint8 and whether the input was a single vector."""
        if encoder is not None:
            if not isinstance(encoder, Encoder):
                raise ValidationError(f"encoder must be a photonics.encoding.Encoder (got {type(encoder).__name__})")
            arr = np.asarray(x)
            if arr.ndim not in (1, 2) or arr.shape[-1] != self.n_in:
                raise ShapeError(f"x must be (n_in,) or (batch, n_in) with n_in={self.n_in} (got shape {arr.shape})")
            frames = encoder.encode(arr)
            return frames, arr.ndim == 1
        arr = np.asarray(x)
        if arr.ndim not in (1, 2):
            raise ShapeError(f"x must be (n_in,) or (batch, n_in) binary frames with n_in={self.n_in} (got shape {arr.shape})")
        f = self.modulator.check_frames(arr, "x")
        return f[None], arr.ndim == 1

    def _require_dmd(self, what: str) -> None:
        if self.modulator.kind != "dmd":
            raise ValidationError(
                f"{what} needs the binary DMD's switchable reference block (this device has a phase SLM, "
                "whose reference modes are static); measure the TM with "
                "photonics.calibration.phase_shifting.measure_tm_phase_shifting instead"
            )

    # ---- public operations ---------------------------------------------------------------------
    def acquire(self, frames, *, reference=False, exposure_s: float | None = None) -> np.ndarray:
        """Raw camera frames (N, n_out) for binary DMD frames (N, n_in), in DN (camera dtype).

        ``reference``: the reference block OFF (False), ON (True), or a 0/1 mask of its
        n_reference mirrors (some ON: a different constant field; see :meth:`reference_state`).
        With a phase SLM (``modulator = "slm"``) the frames are gray levels and the static
        reference modes are always part of the field (``reference`` must stay False).
        """
        key = self.reference_state(reference)
        if key is not False:
            self._require_dmd("acquire(reference=True)")
        f = self.modulator.check_frames(frames)
        return self._acquire(f, ref_on=key, exposure_s=self.camera.check_exposure(exposure_s))

    def expose(self, power_w, *, exposure_s: float | None = None) -> np.ndarray:
        """Expose the camera to a given optical power pattern, bypassing DMD and medium.

        The lab equivalent of illuminating the sensor directly (flat field from an integrating
        sphere, a fixed speckle pattern...). Each row is one frame: it costs one frame period of
        device time and draws that frame's noise.

        Parameters
        ----------
        power_w : array (n_frames, n_out) or (n_out,)
            Optical power on each pixel [W], finite and >= 0.
        exposure_s : float, optional
            Exposure override [s].

        Returns
        -------
        ndarray (n_frames, n_out)
            Camera frames in DN (camera dtype).
        """
        p = np.asarray(power_w)
        single = p.ndim == 1
        p2 = p[None] if single else p
        exposure_s = self.camera.check_exposure(exposure_s)
        out = self.camera.read(p2, self._frames, exposure_s)  # validates shape, finiteness, sign
        self.reserve_frames(out.shape[0])
        return out[0] if single else out

    def dark_frames(self, n: int, exposure_s: float | None = None) -> np.ndarray:
        """``n`` frames with the laser blocked (dark signal + noise only), DN (n, n_out)."""
        n = check_int(n, "n", low=1, error=ValidationError)
        exposure_s = self.camera.check_exposure(exposure_s)
        out_bytes = n * self.n_out * np.dtype(self.config.camera.output_dtype).itemsize
        check_allocation(out_bytes + n * self.n_in, f"dark_frames(n={n}): {n} frames of {self.n_out} pixels",
                         "ask for fewer frames at a time")
        zeros = np.zeros((n, self.n_in), dtype=np.uint8)
        return self._acquire(zeros, ref_on=False, exposure_s=exposure_s, laser_on=False)

    def project(self, x, *, encoder: Encoder | None = None, raw: bool = False, exposure_s: float | None = None) -> np.ndarray:
        """Native intensity projection y = |T x|^2 (scaled, through the camera).

        Parameters
        ----------
        x : array (n_in,) or (batch, n_in)
            Binary DMD frames, or real inputs when ``encoder`` is given.
        encoder : Encoder, optional
            Encodes x into binary frames and decodes the per-frame outputs.
        raw : bool
            Return the camera frames (n_frames, batch, n_out) in DN (uint8/uint16) instead.
        exposure_s : float, optional
            Exposure override [s].

        Returns
        -------
        ndarray float32 (batch, n_out)
            DN above the black level: ``G_i s |alpha T x + c|^2`` + dark + noise, where G_i is
            the pixel's DN per watt (``camera.gain_dn_per_w()``).
        """
        frames, single = self._encode(x, encoder)
        exposure_s = self.camera.check_exposure(exposure_s)
        n_f, batch = frames.shape[:2]
        flat = frames.reshape(n_f * batch, self.n_in)
        if raw:
            dn = self._acquire(flat, ref_on=False, exposure_s=exposure_s).reshape(n_f, batch, self.n_out)
            return dn[:, 0] if single else dn
        # DN - black level straight from the camera kernel (float32, no DN array in between)
        y = self._acquire(flat, ref_on=False, exposure_s=exposure_s, sub_dn=self.config.camera.black_level_dn)
        y = y.reshape(n_f, batch, self._n_out)
        y = encoder.decode(y) if encoder is not None else y[0]
        return y[0] if single else y

    def calibrate_reference(self, n_frames: int | None = None, exposure_s: float | None = None) -> ReferenceCalibration:
        """Measure the reference levels used by :meth:`linear` (costs 3 n_frames frames).

        Z = <I(r)> - <I(0)> (reference alone minus everything OFF), R = <I(r)>, D = dark.
        Call again to refresh a calibration that has gone stale (drift).
        """
        self._require_dmd("calibrate_reference")
        n = self.config.reference.calibration_frames if n_frames is None else check_int(n_frames, "n_frames", low=1, error=ValidationError)
        exposure_s = self.camera.check_exposure(exposure_s)
        zeros = np.zeros((n, self.n_in), dtype=np.uint8)
        i_ref = self._acquire(zeros, ref_on=True, exposure_s=exposure_s).astype(np.float64).mean(axis=0)
        i_zero = self._acquire(zeros, ref_on=False, exposure_s=exposure_s).astype(np.float64).mean(axis=0)
        dark = self._acquire(zeros, ref_on=False, exposure_s=exposure_s, laser_on=False).astype(np.float64).mean(axis=0)
        frac = self.config.reference.min_level_fraction
        self._refcal = ReferenceCalibration(
            z_dn=i_ref - i_zero,
            r_dn=i_ref,
            dark_dn=dark,
            n_frames=n,
            exposure_s=exposure_s,
            device_time_s=self.device_time_s,
            min_level_fraction=frac,
        )
        weak = float(np.mean(self._refcal.z_dn <= frac * np.median(self._refcal.z_dn)))
        log.info("reference calibration: %d frames x 3, %.3g%% of pixels below the reference floor", n, 100 * weak)
        return self._refcal

    def reference_for(self, exposure_s: float) -> ReferenceCalibration:
        """The reference calibration at ``exposure_s`` [s] (already checked): the last one, or a
        new :meth:`calibrate_reference` when there is none yet or it was taken at another exposure."""
        cal = self._refcal
        if cal is None or cal.exposure_s != exposure_s:
            cal = self.calibrate_reference(exposure_s=exposure_s)
        return cal

    @property
    def reference_calibration(self) -> ReferenceCalibration | None:
        """The last reference calibration, or None before the first :meth:`linear`."""
        return self._refcal

    def _linear_constants(self, cal: ReferenceCalibration, scheme: str) -> tuple:
        """float32 (level subtracted, normalisation) of a calibration and scheme (cached per calibration)."""
        cached = self._const_cache.get(("linear", scheme))
        if cached is not None and cached[0] is cal:
            return cached[1], cached[2]
        level = (cal.z_dn if scheme == "exact" else cal.r_dn).astype(np.float32)
        norm = cal.normalisation(scheme)
        self._const_cache[("linear", scheme)] = (cal, level, norm)
        return level, norm

    def linear(
        self,
        x,
        *,
        encoder: Encoder | None = None,
        raw: bool = False,
        scheme: str | None = None,
        exposure_s: float | None = None,
    ) -> np.ndarray:
        """Linear projection y = B x recovered from intensities with the reference block.

        Schemes (``config.reference.scheme`` unless given; see :class:`ReferenceConfig`):

        * ``"exact"``: two frames per input, I(x + r) and I(x);
          y = (I(x + r) - I(x) - Z) / (2 sqrt(Z)) = G s Re(conj(u) alpha T x) / sqrt(Z),
          exactly linear in x (u: reference field).
        * ``"strong-reference"``: one frame per input; y = (I(x + r) - R) / (2 sqrt(R - D));
          carries the error G s |alpha T x|^2 / (2 sqrt(R - D)).

        The reference levels are measured on first use (see :meth:`calibrate_reference`).

        Returns
        -------
        ndarray float32 (batch, n_out)
            In sqrt(DN); with ``raw=True`` the camera frames (n_frames, frames_per_input,
            batch, n_out) instead.
        """
        self._require_dmd("linear")
        scheme = check_choice(scheme or self.config.reference.scheme, "scheme", LINEAR_SCHEMES, error=ValidationError)
        frames, single = self._encode(x, encoder)
        exposure_s = self.camera.check_exposure(exposure_s)
        cal = self.reference_for(exposure_s)
        n_f, batch = frames.shape[:2]
        flat = frames.reshape(n_f * batch, self.n_in)
        if raw:
            on = self._acquire(flat, ref_on=True, exposure_s=exposure_s)
            if scheme == "exact":
                off = self._acquire(flat, ref_on=False, exposure_s=exposure_s)
                r = np.stack([on, off], axis=0).reshape(2, n_f, batch, self.n_out).transpose(1, 0, 2, 3)
            else:
                r = on.reshape(1, n_f, batch, self.n_out).transpose(1, 0, 2, 3)
            return r[:, :, 0] if single else r
        y = self._linear_of(flat, scheme, exposure_s, cal).reshape(n_f, batch, self._n_out)
        y = encoder.decode(y) if encoder is not None else y[0]
        return y[0] if single else y

    def linear_frames(self, frames_u8: np.ndarray, *, exposure_s: float | None = None) -> np.ndarray:
        """Inner fast path of :meth:`linear`: DMD frames already in the device's format, no checks.

        ``frames_u8``: uint8 0/1 frames (N, n_in), C-contiguous (what the optical feedback's
        display plan builds); the configured scheme. The numbers and the clock of
        ``linear(frames_u8, exposure_s=exposure_s)``, without validating the frames again
        (the twin of :meth:`photonics.backends.torch_opu.TorchOPU.linear_frames`). Frames of another
        dtype, shape or values give undefined results: use :meth:`linear` for input that was not
        built this way. Returns float32 (N, n_out).
        """
        self._require_dmd("linear_frames")
        exposure_s = self.camera.check_exposure(exposure_s)
        cal = self.reference_for(exposure_s)
        return self._linear_of(frames_u8, self.config.reference.scheme, exposure_s, cal)

    def _linear_of(self, flat: np.ndarray, scheme: str, exposure_s: float, cal) -> np.ndarray:
        """float32 y (N, n_out) of validated uint8 frames (N, n_in) with the reference calibration ``cal``.

        The camera kernels return float32 DN; the arithmetic is done in place, in the order
        (on - off - Z) / N of :meth:`linear`'s formula (the same numbers as with DN arrays).
        """
        level, norm = self._linear_constants(cal, scheme)
        if scheme == "exact" and self.medium.is_static:
            return self._linear_difference(flat, exposure_s, level, norm)
        y = self._acquire(flat, ref_on=True, exposure_s=exposure_s, sub_dn=0.0)
        if scheme == "exact":
            off = self._acquire(flat, ref_on=False, exposure_s=exposure_s, sub_dn=0.0)
            np.subtract(y, off, out=y)
        np.subtract(y, level, out=y)
        np.divide(y, norm, out=y)
        return y

    # ---- ground truth (tests, small sizes) ------------------------------------------------------
    def _check_dense_size(self, n_cols: int) -> None:
        if self.n_out * n_cols * 8 > DENSE_LIMIT_BYTES:
            raise ValidationError(
                f"the {self.n_out} x {n_cols} matrix would need {self.n_out * n_cols * 8 / 2**30:.1f} GiB; "
                "ground-truth matrices are for sizes below 2 GiB (use medium.matrix(rows=..., cols=...) for a block)"
            )

    @property
    def transmission_matrix(self) -> np.ndarray:
        """Ground-truth T of the signal modes, complex64 (n_out, n_in), at the current device time."""
        self._check_dense_size(self.n_in)
        return self.medium.matrix(None, slice(0, self.n_in), time_s=self.device_time_s)

    def pixel_gain_dn_per_field2(self, exposure_s: float | None = None) -> np.ndarray:
        """DN per unit |field|^2 on each pixel, G_i s (below saturation), float64 (n_out,)."""
        return self.camera.gain_dn_per_w(exposure_s) * self.power_scale

    def expected_projection(self, frames, exposure_s: float | None = None) -> np.ndarray:
        """Noise-free mean of :meth:`project` for binary frames (before saturation) [DN], float64.

        DN above the black level: G_i s |field|^2 + dark_i / gain + o_i (the pixel's electronic
        offset). With a phase SLM the frames are gray levels and the field is T a over all modes.
        """
        if self.modulator.kind == "slm":
            a = self.modulator.mode_amplitudes(frames)
            self._check_dense_size(self.config.n_modes_total)
            t = self.medium.matrix(None, slice(0, self.config.n_modes_total), time_s=self.device_time_s).astype(np.complex128)
            e = a @ t.T
        else:
            f = self.modulator.check_frames(frames).astype(np.float64)
            t = self.transmission_matrix.astype(np.complex128)
            c = self.constant_field(False, self.device_time_s)
            e = self.modulator.alpha * (f @ t.T) + c
        return (self.pixel_gain_dn_per_field2(exposure_s) * np.abs(e) ** 2
                + self.camera.dark_electrons(exposure_s) / self.config.camera.gain_e_per_dn + self.camera.offset_map_dn)

    def effective_linear_matrix(self, scheme: str | None = None, exposure_s: float | None = None, *,
                                time_s: float | None = None) -> np.ndarray:
        """Ground-truth B (n_out, n_in) float64 such that the noise-free ``linear(x)`` = B x.

        exact: B_i = 2 G_i s Re(conj(dc_i) alpha T_i) / N_i, dc = c_on - c_off,
        N_i = 2 sqrt(max(Z_i, floor)), Z_i = G_i s (|c_on,i|^2 - |c_off,i|^2);
        strong-reference: dc -> c_on and Z_i -> G_i s |c_on,i|^2 (the quadratic error term
        is not part of B). The floor is ``reference.min_level_fraction`` x median(Z).
        ``time_s``: device time of the medium state (a drifting medium); default now.
        """
        self._require_dmd("effective_linear_matrix")
        scheme = check_choice(scheme or self.config.reference.scheme, "scheme", LINEAR_SCHEMES, error=ValidationError)
        time_s = self.device_time_s if time_s is None else float(time_s)
        self._check_dense_size(self.n_in)
        t = self.medium.matrix(None, slice(0, self.n_in), time_s=time_s).astype(np.complex128)
        c_on = self.constant_field(True, time_s)
        c_off = self.constant_field(False, time_s)
        g = self.pixel_gain_dn_per_field2(exposure_s)
        if scheme == "exact":
            dc = c_on - c_off
            z = g * (np.abs(c_on) ** 2 - np.abs(c_off) ** 2)
        else:
            dc = c_on
            z = g * np.abs(c_on) ** 2
        norm = reference_normalisation(z, self.config.reference.min_level_fraction).astype(np.float64)
        return (2.0 * g / norm)[:, None] * np.real(np.conj(dc)[:, None] * self.modulator.alpha * t)

    def reference_field(self, time_s: float | None = None) -> np.ndarray:
        """Reference contribution dc = c_on - c_off on each pixel (complex128) [sqrt(W)]."""
        self._require_dmd("reference_field")
        t = self.device_time_s if time_s is None else float(time_s)
        return self.constant_field(True, t) - self.constant_field(False, t)

    def state_dict(self) -> dict:
        """The device's evolving state (clock, frame counter, reference calibration).

        Together with config and seed it restores a device exactly: the next frame draws the
        same noise as it would have without interruption (checkpoint / resume).
        """
        cal = self._refcal
        return {
            "frames": self._frames,
            "idle_s": self._idle_s,
            "reference_calibration": None
            if cal is None
            else {
                "z_dn": cal.z_dn.copy(),
                "r_dn": cal.r_dn.copy(),
                "dark_dn": cal.dark_dn.copy(),
                "n_frames": cal.n_frames,
                "exposure_s": cal.exposure_s,
                "device_time_s": cal.device_time_s,
                "min_level_fraction": cal.min_level_fraction,
            },
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (same config and seed assumed)."""
        if not isinstance(state, dict):
            raise ValidationError(f"state must be the dict of OPU.state_dict() (got {type(state).__name__})")
        try:
            frames = check_int(state["frames"], "state['frames']", low=0, error=ValidationError)
            idle = check_real(state["idle_s"], "state['idle_s']", low=0.0, unit="s", error=ValidationError)
            cal = state.get("reference_calibration")
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"state must come from OPU.state_dict() (missing {exc})") from None
        if cal is not None:
            try:
                arrays = {k: np.asarray(cal[k], dtype=np.float64) for k in ("z_dn", "r_dn", "dark_dn")}
                scalars = dict(
                    n_frames=check_int(cal["n_frames"], "state reference_calibration.n_frames", low=1, error=ValidationError),
                    exposure_s=check_real(cal["exposure_s"], "state reference_calibration.exposure_s", low=0.0,
                                          low_inclusive=False, unit="s", error=ValidationError),
                    device_time_s=check_real(cal["device_time_s"], "state reference_calibration.device_time_s", low=0.0,
                                             unit="s", error=ValidationError),
                    min_level_fraction=check_real(cal.get("min_level_fraction", self.config.reference.min_level_fraction),
                                                  "state reference_calibration.min_level_fraction", low=0.0, high=1.0,
                                                  high_inclusive=False, error=ValidationError),
                )
            except (KeyError, TypeError) as exc:
                raise ValidationError(f"state reference_calibration must come from OPU.state_dict() (missing or invalid {exc})") from None
            for k, a in arrays.items():
                if a.shape != (self.n_out,):
                    raise ShapeError(f"state reference_calibration.{k} has shape {a.shape}, this device needs ({self.n_out},)")
                if not np.all(np.isfinite(a)):
                    raise ValidationError(f"state reference_calibration.{k} contains NaN or infinite values")
            self._refcal = ReferenceCalibration(**scalars, **arrays)
        else:
            self._refcal = None
        self._frames = frames
        self._idle_s = idle

    def describe(self) -> dict:
        """JSON-able summary: config, seed, medium, clock."""
        return {
            "config": self.config.to_dict(),
            "seed": self.seed,
            "medium": self.medium.describe(),
            "frames_used": self.frames_used,
            "device_time_s": self.device_time_s,
        }

    def __repr__(self) -> str:
        return f"OPU({self.config.name!r}, n_in={self.n_in}, n_out={self.n_out}, seed={self.seed})"


# ---- device files ----------------------------------------------------------------------------
def save_device(path: str | os.PathLike, opu, *, include_tm: bool = False) -> Path:
    """Save a device: config, seed and (optionally) its dense signal TM.

    Parameters
    ----------
    path : path
        Destination ``.h5`` file (written atomically).
    opu : photonics.OPU
        The device.
    include_tm : bool
        Also store T (complex64, n_out x n_in). Reloading then checks that the config and
        seed still regenerate this very matrix (a mismatch means the file was edited or
        written by an incompatible version).
    """
    path = Path(path)
    with atomic_h5(path, "photonics.device", config=opu.config, seed=opu.seed) as fh:
        fh.attrs["device_time_s"] = opu.device_time_s
        fh.attrs["frames_used"] = opu.frames_used
        if include_tm:
            t = opu.transmission_matrix
            ds = fh.create_dataset("transmission_matrix", data=t, compression="gzip", compression_opts=1)
            ds.attrs["unit"] = "1 (field amplitude ratio, E|T_ij|^2 = 1/n_in)"
            ds.attrs["layout"] = "rows = camera pixels (n_out), cols = input modes (n_in)"
    log.info("saved device %s to %s", opu, path)
    return path


def load_device(path: str | os.PathLike, *, check_tm: bool = True):
    """Load a device written by :func:`save_device`; returns a fresh :class:`photonics.OPU`.

    The clock starts again at zero. If the file holds a TM, it is compared with the one the
    stored config and seed regenerate (first rows), unless ``check_tm`` is False.
    """
    path = Path(path)
    with open_h5(path, "photonics.device") as fh:
        cfg = stored_device_config(fh, path)
        if "seed" not in fh.attrs:
            raise FileFormatError(f"{path}: no seed stored")
        seed = int(fh.attrs["seed"])
        stored = None
        if "transmission_matrix" in fh:
            ds = fh["transmission_matrix"]
            if ds.shape != (cfg.n_out, cfg.n_in):
                raise FileFormatError(
                    f"{path}: transmission_matrix has shape {ds.shape} but the config says (n_out, n_in) = ({cfg.n_out}, {cfg.n_in})"
                )
            if ds.dtype.kind != "c":
                raise FileFormatError(f"{path}: transmission_matrix must be complex (got dtype {ds.dtype})")
            if check_tm:
                stored = ds[: min(8, cfg.n_out)]
    opu = OPU(cfg, seed=seed)
    if stored is not None:
        fresh = opu.medium.matrix(slice(0, stored.shape[0]), slice(0, cfg.n_in))
        if not np.allclose(stored, fresh, rtol=1e-5, atol=1e-7):
            raise FileFormatError(
                f"{path}: the stored transmission matrix does not match the one its config and seed generate "
                "(edited file or incompatible version); load it as a measured medium instead"
            )
    return opu
