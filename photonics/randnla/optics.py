"""The two ways the randomized routines use the simulated OPU.

1. **Data through the optics** (:func:`optical_row_sketch`): the rows a_i of A are sent to the
   DMD and the OPU's linear projection returns B a_i, so the device computes the sketch
   Y = A Omega with Omega = B^T (n x l): n_in = n (length of the vectors sent), n_out = l
   (sketch size), one input per row. B is real and Gaussian-like (``OPU.linear``), so Omega is
   a Gaussian test matrix up to a per-column scale, which does not change range(A Omega).
   Real rows are normalised by their largest |entry| (the scale is restored digitally, so each
   row gets the full bit depth), then written as ``n_bits`` bit planes per sign half
   (:class:`~photonics.encoding.SignSplitEncoder`). Cost per row::

       frames_per_input = 2 n_bits x (2 for the "exact" linear scheme, 1 for "strong-reference")

   plus 3 x ``reference.calibration_frames`` once to measure the reference levels. The sketch
   carries the quantisation error of the rows (~2^-n_bits of each row's peak) and the
   camera noise; both leave range(A) (see :mod:`photonics.randnla.svd`). More bits can be
   bought later: a refinement pass sends the digital residual A - Q(A), row-normalised
   again, and by linearity adds its projection to the sketch (``schedule``).

2. **Optical random vectors** (:func:`optical_rademacher`): the OPU generates test vectors and
   A is applied digitally (works for ``LinearOperator``; no quantisation of A at all). Probe k
   shows two complementary half patterns on the DMD, the +1 and -1 entries of row k of a
   Sylvester-Hadamard matrix H (order N = next power of two > probes), and takes the sign of
   the intensity difference on every camera pixel (``OPU.project``, 2 frames per probe)::

       z_ik = sign( I_i(h_k > 0) - I_i(h_k < 0) ) = sign( Re[ (T_i h_k) conj(R_i) ] + noise )

   with R_i = alpha T_i 1 + 2 c_i (all-ON field plus leaking OFF mirrors). Swapping the two
   halves is a permutation of the medium's columns, which leaves an i.i.d. medium's law
   unchanged, so z_ik is exactly symmetric (E z_ik = 0, z_ik^2 = 1) whatever the camera noise;
   rows of T are independent, so E[z z^T] = I for every probe; and since the h_k are
   orthogonal to each other and to 1, T_i h_k are independent Gaussians: the probes are
   i.i.d. Rademacher vectors over the medium. Exact ties (equal DN) get a digital coin flip;
   their fraction is reported.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from tqdm.auto import tqdm

from ..config import DeviceConfig, preset_names
from ..device import OPU
from ..encoding import BitPlaneEncoder, SignSplitEncoder
from ..errors import ShapeError, ValidationError
from ..rng import check_seed, generator
from ..throughput import frames_per_linear_input
from ..validation import check_int
from .operators import MatrixOperator

log = logging.getLogger(__name__)

__all__ = [
    "sized_config",
    "device_for",
    "linear_sketch_frames",
    "probe_frames",
    "hadamard_order",
    "hadamard_rows",
    "optical_row_sketch",
    "sign_split_quantize",
    "optical_rademacher",
    "MAX_BITS",
]

#: Largest bit depth accepted for the optical sketch (the float32 optical path saturates
#: near 24 bits: quantisation 2^-24 ~ 6e-8 is below its ~2e-7 rounding floor).
MAX_BITS = 32

#: Bytes of DMD frames (uint8) encoded per chunk of rows.
_CHUNK_BYTES = 32 * 1024**2


def sized_config(device, n_in: int, n_out: int) -> DeviceConfig:
    """The device ``device`` (preset name, TOML path or DeviceConfig) resized to n_in x n_out.

    As for presets (:meth:`DeviceConfig.preset`), when n_out changes the laser power is
    scaled by the n_out ratio so that each camera pixel keeps the device's photon budget.
    """
    n_in = check_int(n_in, "n_in", low=1, error=ValidationError)
    n_out = check_int(n_out, "n_out", low=1, error=ValidationError)
    if isinstance(device, str) and device in preset_names():
        return DeviceConfig.preset(device, n_in=n_in, n_out=n_out)
    if not isinstance(device, (str, os.PathLike, DeviceConfig)):
        raise ValidationError(
            f"device must be a preset name ({', '.join(preset_names())}), a TOML path or a DeviceConfig "
            f"(got {type(device).__name__})"
        )
    return DeviceConfig.resolve(device).resized(n_in, n_out)


def device_for(opu: OPU | None, device, seed: int, n_in: int, n_out: int, purpose: str) -> OPU:
    """The OPU a routine runs on: ``opu`` if its size fits, else a new one sized n_in x n_out.

    Raises
    ------
    ShapeError
        ``opu`` has fewer input modes or camera pixels than the routine needs.
    """
    if opu is None:
        opu = OPU(sized_config(device, n_in, n_out), seed=check_seed(seed))
    elif not isinstance(opu, OPU):
        raise ValidationError(f"opu must be a photonics.OPU (got {type(opu).__name__})")
    elif opu.n_in < n_in or opu.n_out < n_out:
        raise ShapeError(
            f"the OPU for {purpose} must have n_in >= {n_in} and n_out >= {n_out} "
            f"(got n_in={opu.n_in}, n_out={opu.n_out}); pass device=... to have one sized for you"
        )
    kind = getattr(opu.modulator, "kind", "dmd")
    if kind != "dmd":
        raise ValidationError(
            f"{purpose} needs a binary DMD (bit-plane encoding, complementary probe patterns); "
            f"this device's modulator is {kind!r}"
        )
    model = getattr(opu.config.medium, "model", "gaussian")
    if model != "gaussian":
        log.warning(
            "%s on a %r medium: the statistics documented here (Gaussian test matrix, exactly "
            "Rademacher probes with independent entries) assume the i.i.d. Gaussian medium; "
            "correlated pixels (speckle grain) correlate the entries of the random vectors",
            purpose,
            model,
        )
    return opu


def _calibration_due(opu: OPU) -> bool:
    cal = opu.reference_calibration
    return cal is None or cal.exposure_s != opu.config.camera.exposure_s


def linear_sketch_frames(n_inputs: int, n_bits: int, scheme: str = "exact", calibration_frames: int = 0) -> int:
    """Camera frames of an optical sketch: n_inputs x 2 n_bits x (2 | 1) + 3 x calibration_frames.

    Parameters
    ----------
    n_inputs : int
        Vectors sent to the DMD (non-zero rows, or columns when transposed).
    n_bits : int
        Bit planes per sign half.
    scheme : str
        Linear scheme: ``"exact"`` (2 camera frames per binary frame) or ``"strong-reference"`` (1).
    calibration_frames : int
        ``reference.calibration_frames`` when the reference is not yet calibrated, else 0.
    """
    return int(n_inputs) * 2 * int(n_bits) * frames_per_linear_input(scheme) + 3 * int(calibration_frames)


def probe_frames(n_probes: int) -> int:
    """Camera frames of ``n_probes`` optical Rademacher probes: 2 per probe (no calibration)."""
    return 2 * int(n_probes)


def hadamard_order(n_probes: int) -> int:
    """Smallest power of two N > n_probes: rows 1..n_probes of H_N are balanced and orthogonal."""
    n_probes = check_int(n_probes, "n_probes", low=1, error=ValidationError)
    return 1 << int(n_probes).bit_length()


def hadamard_rows(rows: np.ndarray, order: int) -> np.ndarray:
    """Rows of the Sylvester-Hadamard matrix H_order, H[i, j] = (-1)^popcount(i & j), int8.

    Generated on the fly (never the whole order x order matrix).
    """
    i = np.asarray(rows, dtype=np.uint64)[:, None]
    v = i & np.arange(order, dtype=np.uint64)[None, :]
    for shift in (32, 16, 8, 4, 2, 1):  # parity of popcount by xor folding (any numpy version)
        v ^= v >> np.uint64(shift)
    parity = (v & np.uint64(1)).astype(np.int8)
    return (1 - 2 * parity).astype(np.int8)


def _meter(opu: OPU) -> tuple[int, float]:
    return opu.frames_used, opu.device_time_s


def sign_split_quantize(x: np.ndarray, n_bits: int) -> np.ndarray:
    """The value (float64) the DMD frames of ``SignSplitEncoder(BitPlaneEncoder(n_bits, 0, 1))`` carry.

    Replicates the encoder's rounding, q = rint(clip(|x|, 0, 1) / step) * step with
    step = 1 / (2^n_bits - 1), per sign half, for x in [-1, 1]; used to form the digital
    residual x - Q(x) that a refinement pass sends.
    """
    step = 1.0 / (2**n_bits - 1)
    pos = np.rint(np.clip(np.maximum(x, 0.0), 0.0, 1.0) / step)
    neg = np.rint(np.clip(np.maximum(-x, 0.0), 0.0, 1.0) / step)
    return (pos - neg) * step


def optical_row_sketch(
    op: MatrixOperator,
    l: int,
    opu: OPU,
    schedule,
    *,
    first_pass: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, dict]:
    """Y = A Omega (m x l) computed by the OPU from the rows of A (see module docstring).

    Bit-plane passes: pass p sends the rows of the residual R_p (R_0 = A,
    R_{p+1} = R_p - Q_p(R_p), formed digitally in float64), each row normalised by its own peak
    and written with ``schedule[p]`` bit planes per sign half. By linearity the passes add up
    to (A - R_P) Omega: P passes of b_1..b_P bits quantise A like one pass of sum(b_p) bits, so
    a refinement pass can be spent later, only when needed (``n_bits="auto"``).

    Parameters
    ----------
    op : MatrixOperator
        Explicit A (m, n); its rows are the DMD inputs.
    l : int
        Sketch size (camera pixels used).
    opu : OPU
        n_in >= n (extra modes stay OFF), n_out >= l (the first l pixels are used).
    schedule : int or sequence of int
        Bit planes per sign half of each pass, each 1..MAX_BITS.
    first_pass : int
        Send passes first_pass.. only (earlier passes are recomputed digitally to form the
        residual; their optical contribution was obtained by an earlier call).

    Returns
    -------
    Y : ndarray float64 (m, l)
        The contribution of the passes sent.
    info : dict
        frames, device_time_s, calibration_frames, optical_inputs (vectors sent),
        frames_per_input (of the first pass sent), norm (||A||_F) and residual_norm
        (||R_P||_F: the quantisation error left after all passes of ``schedule``).
    """
    m, n = op.shape
    schedule = [schedule] if not isinstance(schedule, (list, tuple)) else list(schedule)
    schedule = [check_int(b, "n_bits", low=1, high=MAX_BITS, error=ValidationError) for b in schedule]
    encoders = [SignSplitEncoder(BitPlaneEncoder(b, x_min=0.0, x_max=1.0)) for b in schedule]
    scheme = opu.config.reference.scheme
    cal_frames = opu.config.reference.calibration_frames if _calibration_due(opu) else 0
    f0, t0 = _meter(opu)
    y = np.zeros((m, l), dtype=np.float64)
    chunk = max(1, _CHUNK_BYTES // (2 * max(schedule) * opu.n_in))
    starts = range(0, m, chunk)
    sent = 0
    norm2 = resid2 = 0.0
    for s in tqdm(starts, desc="optical sketch", unit="chunk", disable=not (progress and len(starts) > 1), leave=False):
        e = min(s + chunk, m)
        r = op.rows(s, e)
        norm2 += float(np.sum(r * r))
        for p, (bits, enc) in enumerate(zip(schedule, encoders)):
            peak = np.abs(r).max(axis=1)
            nz = np.flatnonzero(peak > 0)  # an all-zero row projects to 0: no frames needed
            if nz.size == 0:
                break
            x = r[nz] / peak[nz, None]
            if p >= first_pass:
                xin = np.zeros((nz.size, opu.n_in), dtype=np.float64)
                xin[:, :n] = x
                out = opu.linear(xin, encoder=enc)
                y[s + nz] += out[:, :l].astype(np.float64) * peak[nz, None]
                sent += nz.size
            r = r.copy() if p == 0 else r
            r[nz] -= sign_split_quantize(x, bits) * peak[nz, None]
        resid2 += float(np.sum(r * r))
    f1, t1 = _meter(opu)
    info = {
        "frames": f1 - f0,
        "device_time_s": t1 - t0,
        "calibration_frames": 3 * cal_frames,
        "optical_inputs": sent,
        "frames_per_input": 2 * schedule[first_pass] * frames_per_linear_input(scheme),
        "norm": float(np.sqrt(norm2)),
        "residual_norm": float(np.sqrt(resid2)),
    }
    return y, info


def optical_rademacher(n: int, n_probes: int, opu: OPU, seed: int, *, progress: bool = False) -> tuple[np.ndarray, dict]:
    """n_probes Rademacher vectors of length n generated by the OPU (see module docstring).

    Parameters
    ----------
    n : int
        Vector length (camera pixels used: the first n).
    n_probes : int
        Number of vectors.
    opu : OPU
        n_in >= hadamard_order(n_probes) (extra modes stay OFF), n_out >= n.
    seed : int
        Seed of the digital coin that breaks exact ties.

    Returns
    -------
    Z : ndarray float64 (n, n_probes), entries +-1
    info : dict
        frames, device_time_s, optical_inputs, frames_per_input, tie_fraction.
    """
    order = hadamard_order(n_probes)
    if opu.n_in < order or opu.n_out < n:
        raise ShapeError(f"optical probes need n_in >= {order} and n_out >= {n} (got n_in={opu.n_in}, n_out={opu.n_out})")
    coin = generator(seed, "randnla", "probe-ties")
    f0, t0 = _meter(opu)
    z = np.empty((n, n_probes), dtype=np.float64)
    chunk = max(1, _CHUNK_BYTES // (2 * opu.n_in + 8 * opu.n_out))
    starts = range(0, n_probes, chunk)
    ties = 0
    for s in tqdm(starts, desc="optical probes", unit="chunk", disable=not (progress and len(starts) > 1), leave=False):
        e = min(s + chunk, n_probes)
        h = hadamard_rows(np.arange(s + 1, e + 1), order)
        frames = np.zeros((2 * (e - s), opu.n_in), dtype=np.uint8)
        frames[0::2, :order] = h > 0
        frames[1::2, :order] = h < 0
        y = opu.project(frames)
        d = y[0::2, :n].astype(np.float64) - y[1::2, :n].astype(np.float64)
        sign = np.sign(d)
        tied = sign == 0
        n_tied = int(np.count_nonzero(tied))
        if n_tied:
            sign[tied] = 2.0 * coin.integers(0, 2, size=n_tied) - 1.0
            ties += n_tied
        z[:, s:e] = sign.T
    f1, t1 = _meter(opu)
    info = {
        "frames": f1 - f0,
        "device_time_s": t1 - t0,
        "calibration_frames": 0,
        "optical_inputs": 2 * n_probes,
        "frames_per_input": 1,
        "tie_fraction": ties / float(n * n_probes),
    }
    return z, info
