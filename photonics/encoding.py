"""Encoders: real / integer / ternary inputs -> binary DMD frames, and back.

A DMD mirror is on or off, so anything that is not binary is written as several binary
frames and the device outputs are combined afterwards. Each encoder has

* ``encode(x) -> frames``: uint8 in {0, 1}, shape (n_frames, batch, n_features);
* ``decode(y) -> (batch, n_out)``: the linear combination of the per-frame outputs
  ``y`` (n_frames, batch, n_out) that undoes the encoding.

For a *linear* device (``OPU.linear``, y_k = B frame_k) decoding is exact:
``decode(B encode(x)) = B Q(x)`` with Q the encoder's quantisation. For the native nonlinear
projection |T x|^2 the same combination is the usual "separated bit planes" approximation.

Encoders that learn a range from the data (``BitPlaneEncoder`` without fixed bounds) store it
in attributes ending in ``_`` during ``encode``; ``decode`` uses the last range.
"""

from __future__ import annotations

import abc

import numpy as np

from .errors import ShapeError, ValidationError
from .validation import as_float_array, check_int, check_real

__all__ = [
    "Encoder",
    "BinaryThresholdEncoder",
    "BitPlaneEncoder",
    "SignSplitEncoder",
    "TernaryEncoder",
    "ternarize",
    "macropixelate",
    "pool_macropixels",
]


#: largest finite float32 (the decoded outputs are float32)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _as_batch(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim not in (1, 2):
        raise ShapeError(f"{name} must be 1-D (n_features,) or 2-D (batch, n_features) (got shape {arr.shape})")
    return arr[None, :] if arr.ndim == 1 else arr


def _check_outputs(y, n_frames: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 3 or y.shape[0] != n_frames:
        raise ShapeError(f"y must be (n_frames={n_frames}, batch, n_out) (got shape {y.shape})")
    return y.astype(np.float32, copy=False)


class Encoder(abc.ABC):
    """Base class of the DMD encoders."""

    @abc.abstractmethod
    def encode(self, x) -> np.ndarray:
        """Binary frames (n_frames, batch, n_features) uint8."""

    @abc.abstractmethod
    def decode(self, y) -> np.ndarray:
        """Combine per-frame outputs (n_frames, batch, n_out) into (batch, n_out) float32."""

    def quantize(self, x) -> np.ndarray:
        """The value the frames represent, decode(encode(x)) through an identity device."""
        frames = self.encode(x)
        return self.decode(frames.astype(np.float32))


class BinaryThresholdEncoder(Encoder):
    """One frame: mirror on where x > threshold.

    Parameters
    ----------
    threshold : float
        Values strictly above it switch the mirror on.
    """

    def __init__(self, threshold: float = 0.0):
        self.threshold = check_real(threshold, "threshold", error=ValidationError)
        self.n_frames = 1

    def encode(self, x) -> np.ndarray:
        x = as_float_array(_as_batch(x), "x", dtype=np.float64)
        return (x > self.threshold).astype(np.uint8)[None]

    def decode(self, y) -> np.ndarray:
        return _check_outputs(y, 1)[0].copy()


class BitPlaneEncoder(Encoder):
    """Unsigned fixed-point bit planes: x ~= x_min + step * sum_k 2^k b_k.

    Integers in [0, 2^n_bits) are encoded exactly when no range is given. Floats are mapped
    to 2^n_bits - 1 levels over [x_min, x_max] (learned from the batch when not given).
    When x_min != 0 an extra all-ones frame carries the offset (decode adds x_min * y_ones).

    Parameters
    ----------
    n_bits : int
        Bit planes, 1..32 (beyond ~24 the float32 optical path, not the
        quantisation, limits the precision of a linear projection).
    x_min, x_max : float, optional
        Fixed quantisation range; values outside are clipped.
    """

    def __init__(self, n_bits: int = 8, x_min: float | None = None, x_max: float | None = None):
        self.n_bits = check_int(n_bits, "n_bits", low=1, high=32, error=ValidationError)
        self.x_min = None if x_min is None else check_real(x_min, "x_min", error=ValidationError)
        self.x_max = None if x_max is None else check_real(x_max, "x_max", error=ValidationError)
        if self.x_min is not None and self.x_max is not None and self.x_max <= self.x_min:
            raise ValidationError(f"x_max must be > x_min (got x_min={self.x_min}, x_max={self.x_max})")
        self.offset_ = 0.0
        self.step_ = 1.0
        self.n_frames = self.n_bits

    def encode(self, x) -> np.ndarray:
        arr = _as_batch(x)
        levels = 2**self.n_bits - 1
        if np.issubdtype(arr.dtype, np.integer) and self.x_min is None and self.x_max is None:
            if arr.size and (arr.min() < 0 or arr.max() > levels):
                raise ValidationError(
                    f"integer x must be in [0, {levels}] for n_bits={self.n_bits} "
                    f"(got range [{arr.min()}, {arr.max()}]); raise n_bits or give x_min/x_max"
                )
            q = arr.astype(np.int64)
            self.offset_, self.step_ = 0.0, 1.0
        else:
            xf = as_float_array(arr, "x", dtype=np.float64)
            lo = self.x_min if self.x_min is not None else (float(xf.min()) if xf.size else 0.0)
            hi = self.x_max if self.x_max is not None else (float(xf.max()) if xf.size else 1.0)
            if max(abs(lo), abs(hi)) > _FLOAT32_MAX / 2:
                raise ValidationError(
                    f"x spans [{lo:.3g}, {hi:.3g}]: the decoded outputs are float32, whose range ends at "
                    f"{_FLOAT32_MAX:.3g} (with room for the projection's sums, |x| must stay below {_FLOAT32_MAX / 2:.3g}); "
                    "rescale the inputs"
                )
            if hi <= lo:
                hi = lo + 1.0
            step = (hi - lo) / levels
            q = np.rint((np.clip(xf, lo, hi) - lo) / step).astype(np.int64)
            self.offset_, self.step_ = lo, step
        planes = [((q >> k) & 1).astype(np.uint8) for k in range(self.n_bits)]
        if self.offset_ != 0.0:
            planes.append(np.ones_like(planes[0]))
        self.n_frames = len(planes)
        return np.stack(planes)

    def decode(self, y) -> np.ndarray:
        y = _check_outputs(y, self.n_frames)
        w = (self.step_ * 2.0 ** np.arange(self.n_bits)).astype(np.float64)
        out = np.tensordot(w, y[: self.n_bits].astype(np.float64), axes=1)
        if self.n_frames > self.n_bits:
            out += self.offset_ * y[self.n_bits]
        return out.astype(np.float32)


class SignSplitEncoder(Encoder):
    """Signed inputs: x = x+ - x-, each half encoded by ``inner`` (same range for both).

    Parameters
    ----------
    inner : Encoder, optional
        Encoder of the non-negative halves; default ``BitPlaneEncoder(8, x_min=0)`` with
        x_max = max|x| of the batch.
    """

    def __init__(self, inner: Encoder | None = None, n_bits: int = 8):
        self.inner = inner
        self.n_bits = n_bits
        self._inner_used: Encoder | None = None
        self.n_frames = 0

    def encode(self, x) -> np.ndarray:
        xf = as_float_array(_as_batch(x), "x", dtype=np.float64)
        pos = np.maximum(xf, 0.0)
        neg = np.maximum(-xf, 0.0)
        inner = self.inner
        if inner is None:
            top = float(np.abs(xf).max()) if xf.size else 1.0
            inner = BitPlaneEncoder(self.n_bits, x_min=0.0, x_max=top if top > 0 else 1.0)
        fp = inner.encode(pos)
        fn = inner.encode(neg)
        self._inner_used = inner
        self._half = fp.shape[0]
        self.n_frames = 2 * self._half
        return np.concatenate([fp, fn], axis=0)

    def decode(self, y) -> np.ndarray:
        if self._inner_used is None:
            raise ValidationError("decode called before encode: the sign-split range is set by encode")
        y = _check_outputs(y, self.n_frames)
        h = self._half
        return (self._inner_used.decode(y[:h]) - self._inner_used.decode(y[h:])).astype(np.float32)


def ternarize(x, threshold: float = 0.0) -> np.ndarray:
    """sign(x) where |x| > threshold, else 0, as int8 (the DFA error ternarization)."""
    thr = check_real(threshold, "threshold", low=0.0, error=ValidationError)
    xf = as_float_array(np.asarray(x), "x", dtype=np.float64)
    return (np.sign(xf) * (np.abs(xf) > thr)).astype(np.int8)


class TernaryEncoder(Encoder):
    """Ternary inputs in {-1, 0, +1} as two frames [x > thr, x < -thr]; decode y0 - y1.

    Real inputs are ternarized with ``threshold`` first (see :func:`ternarize`).
    """

    def __init__(self, threshold: float = 0.0):
        self.threshold = check_real(threshold, "threshold", low=0.0, error=ValidationError)
        self.n_frames = 2

    def encode(self, x) -> np.ndarray:
        t = ternarize(_as_batch(x), self.threshold)
        return np.stack([(t > 0).astype(np.uint8), (t < 0).astype(np.uint8)])

    def decode(self, y) -> np.ndarray:
        y = _check_outputs(y, 2)
        return (y[0] - y[1]).astype(np.float32)


def macropixelate(frames, factor: int) -> np.ndarray:
    """Expand 2-D frames (..., h, w) to mirror images (..., h*factor, w*factor).

    Each input pixel drives a factor x factor block of mirrors (a macropixel): larger
    macropixels carry more light per mode and are less sensitive to mirror defects.
    """
    factor = check_int(factor, "factor", low=1, error=ValidationError)
    f = np.asarray(frames)
    if f.ndim < 2:
        raise ShapeError(f"frames must be at least 2-D (..., h, w) (got shape {f.shape})")
    return np.repeat(np.repeat(f, factor, axis=-2), factor, axis=-1)


def pool_macropixels(mirrors, factor: int) -> np.ndarray:
    """Inverse of :func:`macropixelate`: mean over each factor x factor block (float32)."""
    factor = check_int(factor, "factor", low=1, error=ValidationError)
    m = np.asarray(mirrors, dtype=np.float32)
    if m.ndim < 2 or m.shape[-1] % factor or m.shape[-2] % factor:
        raise ShapeError(f"mirror image shape {m.shape} is not a multiple of factor {factor} in its last two axes")
    h, w = m.shape[-2] // factor, m.shape[-1] // factor
    return m.reshape(*m.shape[:-2], h, factor, w, factor).mean(axis=(-3, -1))
