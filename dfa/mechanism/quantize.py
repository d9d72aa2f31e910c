"""Quantization of the output error before an optical projection (a DMD shows binary frames).

The error e (one row per sample) is written as e ~ s q, with s a per-sample scale kept
digitally (no optical cost) and q a small-integer vector the DMD can display:

* ``"ternary"`` (the light-in-the-loop scheme): q_j = sign(e_j) where
  |e_j| > threshold * max_k |e_k|, else 0; s = mean |e_j| over the kept entries.
  Two DMD frames per sample (q > 0 and q < 0).
* ``"bitplanes"``: q_j = round(L e_j / max_k |e_k|) with L = 2^n_bits - 1, s = max_k |e_k| / L:
  a signed n-bit fixed-point copy of the error; 2 n_bits DMD frames per sample (sign split,
  then one binary frame per bit plane), decoded exactly by linearity of the projection.

Ternary errors are cheap and work for a few classes; an error whose energy sits in one entry
among many (a language model's next-character error: p - onehot over ~100 characters) loses
its information in the sign and needs bit planes (measured in docs/results/large-models.md).

Fused quantise-encode (:meth:`ErrorQuantizer.planes` for numpy, :meth:`ErrorQuantizer.planes_torch`
for torch on any device): the DMD frames of a whole batch in one pass, without the integer
vector q in between, as ``frames (n_f, M, n) uint8`` with

    q = sum_f w_f frame_f,     w = [1, -1] (ternary),  w = [1, 2, ..., 2^(n_bits-1), -1, ..., -2^(n_bits-1)] (bit planes)

(:attr:`ErrorQuantizer.plane_weights`): frame f of the ternary code is [q > 0], [q < 0]; of the
bit planes, bit k of max(q, 0) (f = k) and of max(-q, 0) (f = n_bits + k). They are the frames of
:meth:`ErrorQuantizer.encoder` and give the same numbers as ``encoder().encode(quantizer(e)[0])``
bit for bit (tested); the torch twin gives the numpy numbers bit for bit on every device (the
per-row sum of the ternary magnitude follows numpy's pairwise summation order,
:func:`pairwise_row_sum_torch`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

from photonics.errors import ValidationError
from photonics.validation import check_choice, check_int, check_real

__all__ = ["ErrorQuantizer", "ternarize_error", "ENCODINGS", "pairwise_row_sum_torch"]

ENCODINGS = ("ternary", "bitplanes")


def ternarize_error(error, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Ternary error t (int8, same shape) and per-row magnitude a (float64) with a t ~ e.

    t_j = sign(e_j) where |e_j| > threshold * max_k |e_k| (per row), else 0;
    a = mean of |e_j| over the kept entries (0 for an all-zero row).
    """
    from photonics.encoding import ternarize

    e = np.asarray(error, dtype=np.float64)
    amax = np.abs(e).max(axis=1, keepdims=True)
    safe = np.where(amax > 0, amax, 1.0)
    t = ternarize(e / safe, threshold)
    kept = t != 0
    n_kept = kept.sum(axis=1)
    a = np.where(n_kept > 0, (np.abs(e) * kept).sum(axis=1) / np.maximum(n_kept, 1), 0.0)
    return t, a


#: numpy's pairwise summation block (``PW_BLOCKSIZE`` of numpy/_core/src/umath/loops_utils.h.src)
_PW_BLOCK = 128


def pairwise_row_sum_torch(x: torch.Tensor) -> torch.Tensor:
    """Row sums of x (M, n) in numpy's pairwise summation order: ``x.sum(axis=1)`` of numpy, bit for bit.

    numpy reduces a contiguous row with ``pairwise_sum``: n < 8 terms in sequence from 0;
    8 <= n <= 128 with eight interleaved accumulators r_j = x_j + x_{j+8} + ... combined as
    ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the n mod 8 remaining terms in
    sequence; n > 128 as the sum of the two halves split at n2 = n/2 - (n/2 mod 8). Every
    addition here is one IEEE addition of the same operands, so the result is the same on every
    device; torch's own reductions use other orders (last-bit differences). Vectorised over
    the rows; halves of equal length are summed together.
    """
    m, n = x.shape
    if n < 8:
        r = torch.zeros(m, dtype=x.dtype, device=x.device)
        for j in range(n):
            r = r + x[:, j]
        return r
    if n <= _PW_BLOCK:
        r = x[:, :8].clone()
        top = n - n % 8
        for i in range(8, top, 8):
            r += x[:, i : i + 8]
        res = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
        for i in range(top, n):
            res = res + x[:, i]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    if 2 * n2 == n:  # equal halves: one call on the stacked rows
        both = pairwise_row_sum_torch(torch.cat([x[:, :n2], x[:, n2:]], dim=0))
        return both[:m] + both[m:]
    return pairwise_row_sum_torch(x[:, :n2]) + pairwise_row_sum_torch(x[:, n2:])


@njit(cache=True)
def _pairwise_sum_small(x, n):
    """numpy's pairwise_sum of x[:n] for n <= 128 (see :func:`pairwise_row_sum_torch`)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
    top = n - n % 8
    i = 8
    while i < top:
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[i]
        i += 1
    return res


@njit(cache=True, inline="always")
def _row_abs_max(e, i):
    """max_j |e[i, j]| (0 for an all-zero row)."""
    amax = 0.0
    for j in range(e.shape[1]):
        v = abs(e[i, j])
        if v > amax:
            amax = v
    return amax


@njit(cache=True)
def _ternary_keys_kernel(e, thr, keys, a, q2):
    """One pass per row of e (M, n <= 64): the two ternary frames as sort keys (bit 63 - j: mirror j),
    the magnitude a (mean kept |e_j|, summed in numpy's pairwise order) and |q|^2 (kept count)."""
    m, n = e.shape
    buf = np.empty(n)
    for i in range(m):
        amax = _row_abs_max(e, i)
        safe = amax if amax > 0 else 1.0
        kp = np.uint64(0)
        kn = np.uint64(0)
        nk = 0
        for j in range(n):
            v = e[i, j] / safe
            bit = np.uint64(1) << np.uint64(63 - j)
            if v > thr:
                kp |= bit
                buf[j] = abs(e[i, j])
                nk += 1
            elif v < -thr:
                kn |= bit
                buf[j] = abs(e[i, j])
                nk += 1
            else:
                buf[j] = 0.0
        keys[0, i] = kp
        keys[1, i] = kn
        a[i] = _pairwise_sum_small(buf, n) / np.float64(nk) if nk > 0 else 0.0
        q2[i] = np.float64(nk)


@njit(cache=True)
def _bitplane_keys_kernel(e, levels, n_bits, keys, s, q2):
    """One pass per row of e (M, n <= 64) for the deterministic bit-plane encoding: the 2 n_bits
    frames as sort keys (bit 63 - j: mirror j; frame k: bit k of max(q, 0), frame n_bits + k: bit k
    of max(-q, 0)), the scale s and |q|^2, with q = rint(e / max|e| * levels) (the numbers of
    :meth:`ErrorQuantizer.planes`, whose |q|^2 is a sum of integers: exact in any order)."""
    m, n = e.shape
    for i in range(m):
        amax = _row_abs_max(e, i)
        safe = amax if amax > 0 else 1.0
        for f in range(2 * n_bits):
            keys[f, i] = np.uint64(0)
        qq = 0.0
        for j in range(n):
            q = np.rint(e[i, j] / safe * levels)
            qq += q * q
            mag = np.int64(abs(q))
            f0 = 0 if q > 0 else n_bits
            bit = np.uint64(1) << np.uint64(63 - j)
            for k in range(n_bits):
                if (mag >> k) & 1:
                    keys[f0 + k, i] |= bit
        s[i] = amax / levels if amax > 0 else 0.0
        q2[i] = qq


@dataclass(frozen=True)
class ErrorQuantizer:
    """e (M, n) -> (q, s) with e ~ s[:, None] * q (see the module docstring).

    Parameters
    ----------
    encoding : str
        ``"ternary"`` or ``"bitplanes"``.
    threshold : float
        Ternary threshold relative to each sample's max |e|, in [0, 1).
    n_bits : int
        Bit planes per sign of the ``"bitplanes"`` encoding, 1..8.
    """

    encoding: str = "ternary"
    threshold: float = 0.35
    n_bits: int = 3

    def __post_init__(self):
        check_choice(self.encoding, "encoding", ENCODINGS, error=ValidationError)
        check_real(self.threshold, "threshold", low=0.0, high=1.0, high_inclusive=False, error=ValidationError)
        check_int(self.n_bits, "n_bits", low=1, high=8, error=ValidationError)

    @property
    def levels(self) -> int:
        """Largest |q|: 1 (ternary) or 2^n_bits - 1."""
        return 1 if self.encoding == "ternary" else 2**self.n_bits - 1

    @property
    def dmd_frames_per_sample(self) -> int:
        """Binary DMD frames that display one q."""
        return 2 if self.encoding == "ternary" else 2 * self.n_bits

    def __call__(self, error) -> tuple[np.ndarray, np.ndarray]:
        """(q int16 (M, n), s float64 (M,)) for the error rows; all-zero rows give q = 0, s = 0."""
        e = np.asarray(error, dtype=np.float64)
        if self.encoding == "ternary":
            t, a = ternarize_error(e, self.threshold)
            return t.astype(np.int16), a
        amax = np.abs(e).max(axis=1)
        safe = np.where(amax > 0, amax, 1.0)
        q = np.rint(e / safe[:, None] * self.levels).astype(np.int16)
        return q, np.where(amax > 0, amax / self.levels, 0.0)

    @property
    def n_planes(self) -> int:
        """Binary frames per sample of the fused encoding (= :attr:`dmd_frames_per_sample`)."""
        return self.dmd_frames_per_sample

    @property
    def plane_weights(self) -> np.ndarray:
        """w_f (float64, n_f) with q = sum_f w_f frame_f (see the module docstring); sum_f w_f = 0."""
        if self.encoding == "ternary":
            return np.array([1.0, -1.0])
        p = 2.0 ** np.arange(self.n_bits)
        return np.concatenate([p, -p])

    def _uniforms_needed(self) -> bool:
        return False

    def planes(self, error, uniforms=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fused quantise + encode of a batch (numpy): (frames, s, |q|^2).

        Parameters
        ----------
        error : array (M, n)
            Error rows (float64 after conversion).
        uniforms : array (M, n) float64, optional
            The U[0, 1) draws of a stochastic quantizer (ignored by the deterministic ones).

        Returns
        -------
        frames : ndarray uint8 (n_f, M, n)
            The DMD frames, q = sum_f w_f frames[f] (:attr:`plane_weights`); the frames of
            ``encoder().encode(q)`` with (q, s) = ``self(error)``, bit for bit.
        s : ndarray float64 (M,)
            Per-row scale, e ~ s q; 0 for an all-zero row (whose frames are all zero).
        q2 : ndarray float64 (M,)
            |q|^2 = sum_j q_j^2 (an exact integer).
        """
        e = np.asarray(error, dtype=np.float64)
        amax = np.abs(e).max(axis=1)
        safe = np.where(amax > 0, amax, 1.0)
        if self.encoding == "ternary":
            # t_j = sign(e_j) where |e_j| > thr max|e| (ternarize_error): the two frames are the
            # masks v > thr and v < -thr of v = e / max|e| (thr >= 0); the magnitude is the mean
            # kept |e_j|, summed in the same order as ternarize_error
            v = e / safe[:, None]
            pos = v > self.threshold
            neg = v < -self.threshold
            kept = pos | neg
            n_kept = kept.sum(axis=1)
            a = np.where(n_kept > 0, (np.abs(e) * kept).sum(axis=1) / np.maximum(n_kept, 1), 0.0)
            frames = np.stack([pos, neg]).view(np.uint8)
            return frames, a, n_kept.astype(np.float64)
        q = self._levels_numpy(e, safe, uniforms)
        s = np.where(amax > 0, amax / self.levels, 0.0)
        return _bit_frames_numpy(q, self.n_bits), s, np.square(q, dtype=np.float64).sum(axis=1)

    def ternary_keys(self, error) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fused ternarise-encode in one numba pass (ternary encoding, n <= 64 error entries).

        Returns (keys uint64 (2, M), s float64 (M,), |q|^2 float64 (M,)): keys[f, i] is frame f of
        sample i ([q > 0], [q < 0]) packed with mirror j at bit 63 - j, so that the order of the
        keys is the lexicographic order of the frames and a key of 0 is a blank frame; s and
        |q|^2 are :meth:`planes`' bit for bit.
        """
        if self.encoding != "ternary":
            raise ValidationError(f"ternary_keys needs the ternary encoding (got {self.encoding!r})")
        e = np.ascontiguousarray(error, dtype=np.float64)
        if e.ndim != 2 or e.shape[1] > 64:
            raise ValidationError(f"ternary_keys needs (M, n <= 64) errors (got shape {e.shape})")
        m = e.shape[0]
        keys = np.empty((2, m), dtype=np.uint64)
        a = np.empty(m)
        q2 = np.empty(m)
        _ternary_keys_kernel(e, float(self.threshold), keys, a, q2)
        return keys, a, q2

    def _levels_numpy(self, e, safe, uniforms):
        return np.rint(e / safe[:, None] * self.levels).astype(np.int16)

    def planes_torch(self, error: torch.Tensor, uniforms: torch.Tensor | None = None):
        """Torch twin of :meth:`planes` on the error's device: (frames bool (n_f, M, n), s, |q|^2), float64.

        The same numbers as :meth:`planes` bit for bit (same IEEE operations in the same order;
        the ternary magnitude's row sum in numpy's order, :func:`pairwise_row_sum_torch`).
        """
        e = error.to(torch.float64)
        amax = e.abs().amax(dim=1)
        safe = torch.where(amax > 0, amax, torch.ones_like(amax))
        if self.encoding == "ternary":
            v = e / safe[:, None]
            pos = v > self.threshold
            neg = v < -self.threshold
            kept = pos | neg
            n_kept = kept.sum(dim=1)
            total = pairwise_row_sum_torch(e.abs() * kept)
            a = torch.where(n_kept > 0, total / n_kept.clamp(min=1), torch.zeros_like(total))
            return torch.stack([pos, neg]), a, n_kept.to(torch.float64)
        q = self._levels_torch(e, safe, uniforms)
        s = torch.where(amax > 0, amax / self.levels, torch.zeros_like(amax))
        qf = q.to(torch.float64)
        return _bit_frames_torch(q, self.n_bits), s, (qf * qf).sum(dim=1)  # integer sums: exact in any order

    def _levels_torch(self, e, safe, uniforms):
        return torch.round(e / safe[:, None] * self.levels).to(torch.int16)

    def encoder(self):
        """The photonics encoder that displays q and decodes B q from the frames' outputs."""
        from photonics.encoding import BitPlaneEncoder, SignSplitEncoder, TernaryEncoder

        if self.encoding == "ternary":
            return TernaryEncoder(0.0)
        return SignSplitEncoder(inner=BitPlaneEncoder(self.n_bits, x_min=0.0, x_max=float(self.levels)))

    def describe(self) -> dict:
        d = {"encoding": self.encoding, "dmd_frames_per_sample": self.dmd_frames_per_sample}
        d.update({"threshold": self.threshold} if self.encoding == "ternary" else {"n_bits": self.n_bits})
        return d


def _bit_frames_numpy(q: np.ndarray, n_bits: int) -> np.ndarray:
    """Frames (2 n_bits, M, n) uint8: bit k of max(q, 0) (f = k), then of max(-q, 0) (f = n_bits + k)."""
    halves = np.stack([np.maximum(q, 0), np.maximum(-q, 0)]).astype(np.uint8)  # |q| <= 255
    ks = np.arange(n_bits, dtype=np.uint8)[None, :, None, None]
    return ((halves[:, None] >> ks) & 1).reshape(2 * n_bits, *q.shape)


def _bit_frames_torch(q: torch.Tensor, n_bits: int) -> torch.Tensor:
    """Torch twin of :func:`_bit_frames_numpy` (bool frames on q's device)."""
    halves = torch.stack([q.clamp(min=0), (-q).clamp(min=0)]).to(torch.int16)
    ks = torch.arange(n_bits, dtype=torch.int16, device=q.device)[None, :, None, None]
    return ((halves[:, None] >> ks) & 1).reshape(2 * n_bits, *q.shape).to(torch.bool)
