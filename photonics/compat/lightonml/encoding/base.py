"""Encoders and decoders with lightonml's call shapes (``lightonml.encoding.base``).

An OPU's DMD shows binary frames, so real or integer data is first written as 0/1 arrays
(``transform`` of an encoder, uint8) and the per-frame outputs are combined afterwards
(``transform`` of a decoder). All classes follow the scikit-learn transformer protocol
(``fit`` / ``transform`` / ``fit_transform``) and accept numpy arrays or torch tensors
(a tensor in gives a tensor out).

===============================  ===========================================================
class                            output of ``transform`` for X (n_samples, n_features)
===============================  ===========================================================
:class:`NoEncoding`              X unchanged (already binary)
:class:`BinaryThresholdEncoder`  (n_samples, n_features): X > threshold (or <)
:class:`MultiThresholdEncoder`   (n_samples, n_features (n_bins - 1)): one block per threshold
:class:`SequentialBaseTwoEncoder`(n_samples, n_features (L - 1)): bit k of the L-level value
                                 repeated 2^k times, so the block sums to the value
:class:`SeparatedBitPlanEncoder` (sides n_samples precision, n_features): bit planes stacked
                                 along the batch axis, positive then negative part
:class:`ConcatenatedBitPlanEncoder`  (n_samples, n_features n_bits): bits of unsigned
                                 integers, feature by feature
===============================  ===========================================================

Decoders: :class:`NoDecoding`, :class:`SeparatedBitPlanDecoder` (weights bit plane k by
``decoding_decay**k`` and rescales by the encoder's magnitudes, exact for a linear
projection with decay 0.5) and :class:`ConcatenatingBitPlanDecoder` (weights the bit-plane
outputs and lays them side by side as features).

Separated bit planes. With precision p, the positive part of X is scaled by its peak
m_+ = max(X, 0), quantised to q = floor((2^p - 1) X / m_+ + 1/2) in [0, 2^p - 1] and written
MSB first; the negative part likewise with m_- = max(-X, 0). Integer inputs whose peak fits
in p bits use m = (2^p - 1) 2^(b - p), b = ceil(log2(peak + 1)), so q = X 2^(p - b) is exact.
``get_params()`` returns the magnitudes m / (2 (1 - 2^-p)), and the decoder computes

    y = sum_k decay^k Y_k * magnitude_p  -  sum_k decay^k Y'_k * magnitude_n,

which for decay = 1/2 and a linear device Y_k = B b_k equals B Q(X): the bit-plane
quantisation is the only error. For the nonlinear |T x|^2 it is the usual "separated bit
planes" feature map, not |T X|^2.

Differences from lightonml (documented, deliberate):

* errors are :mod:`photonics.errors` exceptions (subclasses of ValueError / TypeError)
  instead of asserts / RuntimeError, and a threshold outside the data range is a
  ``warnings.warn`` instead of a print;
* ``SeparatedBitPlanEncoder`` accepts precision up to 16 (lightonml's uint8 path stops at
  8) and an integer input whose largest value is <= 0 has no positive side;
* ``ConcatenatedBitPlanEncoder`` numbers bits from the most significant bit of the dtype for
  every integer width (lightonml does so for uint8 only);
* not provided: ``Float32Encoder``, ``ConcatenatedFloat32Encoder``, ``MixingBitPlanDecoder``
  and the autoencoder models of ``lightonml.encoding.models``.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings

import numpy as np

from ....errors import DTypeError, ShapeError, ValidationError
from ....validation import as_float_array, check_int, check_real
from .._arrays import like_input, to_numpy

log = logging.getLogger(__name__)

__all__ = [
    "BaseTransformer",
    "NoEncoding",
    "NoDecoding",
    "BinaryThresholdEncoder",
    "MultiThresholdEncoder",
    "SequentialBaseTwoEncoder",
    "SeparatedBitPlanEncoder",
    "SeparatedBitPlanDecoder",
    "ConcatenatedBitPlanEncoder",
    "ConcatenatingBitPlanDecoder",
]

#: Largest precision of :class:`SeparatedBitPlanEncoder` (quantised values are held in uint16).
MAX_PRECISION = 16


def _numeric_2d(x, name: str = "X") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (n_samples, n_features) (got shape {arr.shape})")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DTypeError(f"{name} must be a numeric array (got dtype {arr.dtype})")
    if np.iscomplexobj(arr):
        raise DTypeError(f"{name} must be real-valued (got dtype {arr.dtype})")
    if arr.dtype.kind == "f":
        as_float_array(arr, name, dtype=arr.dtype)  # rejects NaN / inf
    return arr


class BaseTransformer:
    """Base class of the encoders and decoders: no-op ``fit``, ``fit_transform``."""

    def fit(self, X, y=None):
        """Learn what the transform needs from X (no-op here); returns self."""
        return self

    def transform(self, X):  # pragma: no cover - abstract
        """Encode or decode X."""
        raise NotImplementedError

    def fit_transform(self, X, y=None):
        """``fit(X, y).transform(X)``."""
        return self.fit(X, y).transform(X)

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        inner = ", ".join(f"{k}={v!r}" for k, v in params.items() if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({inner})"


class NoEncoding(BaseTransformer):
    """Identity encoder: the input is already binary."""

    def transform(self, X):
        return X


class NoDecoding(BaseTransformer):
    """Identity decoder: the outputs are used as they are."""

    def transform(self, X):
        return X


class BinaryThresholdEncoder(BaseTransformer):
    """One binary feature per input feature: x > threshold (``greater_is_one``) or x < threshold.

    Parameters
    ----------
    threshold_enc : float or "auto"
        Threshold; ``"auto"``: the per-feature median of the data given to :meth:`fit`
        (``threshold_enc`` then holds that array).
    greater_is_one : bool
        True: 1 where x > threshold; False: 1 where x < threshold.
    """

    def __init__(self, threshold_enc="auto", greater_is_one: bool = True):
        if not (threshold_enc == "auto" if isinstance(threshold_enc, str) else isinstance(threshold_enc, numbers.Real) and not isinstance(threshold_enc, bool)):
            raise ValidationError(f"threshold_enc must be a real number or 'auto' (got {threshold_enc!r})")
        if isinstance(threshold_enc, numbers.Real):
            check_real(threshold_enc, "threshold_enc", error=ValidationError)
        self.threshold_enc = threshold_enc
        self.greater_is_one = bool(greater_is_one)

    def fit(self, X, y=None):
        """Set an ``"auto"`` threshold to the per-feature median of X; warn if a fixed threshold
        lies outside the range of X."""
        x = _numeric_2d(to_numpy(X)[0])
        if isinstance(self.threshold_enc, str):
            self.threshold_enc = np.median(x, axis=0)
        elif x.size and not (x.min() <= self.threshold_enc <= x.max()):
            warnings.warn(
                f"encoder threshold {self.threshold_enc} is outside the data range [{x.min()}, {x.max()}]",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def transform(self, X):
        """uint8 array of X's shape with entries in {0, 1}."""
        x, tensor = to_numpy(X)
        if isinstance(self.threshold_enc, str):
            raise ValidationError("threshold_enc is 'auto': call fit (or fit_transform) before transform")
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise DTypeError(f"X must be a numeric array (got dtype {x.dtype})")
        if x.dtype.kind == "f":
            as_float_array(x, "X", dtype=x.dtype)
        thr = np.asarray(self.threshold_enc)
        if thr.ndim == 1 and (x.ndim == 0 or x.shape[-1] != thr.shape[0]):
            raise ShapeError(f"X must have {thr.shape[0]} features (the fitted per-feature thresholds) (got shape {x.shape})")
        out = (x > thr) if self.greater_is_one else (x < thr)
        return like_input(out.astype(np.uint8), tensor)


class MultiThresholdEncoder(BaseTransformer):
    """n_bins - 1 binary features per input feature: x > t_1, ..., x > t_(n_bins-1).

    Output blocks are laid side by side by threshold: columns [k n_features, (k+1) n_features)
    hold x > t_k. The number of ON bits of a feature is its bin index (a thermometer code).

    Parameters
    ----------
    thresholds : "linspace", "quantiles" or array
        ``"linspace"``: n_bins - 1 thresholds evenly spaced strictly inside the data range;
        ``"quantiles"``: the quantiles i / n_bins, i = 1..n_bins-1 (midpoint interpolation);
        an array (n_bins - 1,) or, with ``columnwise``, (n_features, n_bins - 1): used as is.
    n_bins : int
        Number of levels (>= 2) when the thresholds are learned.
    columnwise : bool
        Learn one set of thresholds per feature instead of one for all.
    """

    def __init__(self, thresholds="linspace", n_bins: int = 8, columnwise: bool = False):
        self.columnwise = bool(columnwise)
        if isinstance(thresholds, str):
            if thresholds not in ("linspace", "quantiles"):
                raise ValidationError(f"thresholds must be 'linspace', 'quantiles' or an array (got {thresholds!r})")
            self.n_bins = check_int(n_bins, "n_bins", low=2, error=ValidationError)
        else:
            t = as_float_array(thresholds, "thresholds", dtype=np.float64)
            if t.ndim != (2 if self.columnwise else 1) or t.shape[-1] < 1:
                want = "2-D (n_features, n_bins - 1) with columnwise=True" if self.columnwise else "1-D (n_bins - 1,)"
                raise ShapeError(f"thresholds must be {want} (got shape {t.shape})")
            thresholds = t
            self.n_bins = t.shape[-1] + 1
        self.thresholds = thresholds

    def _learn(self, v: np.ndarray) -> np.ndarray:
        if self.thresholds == "linspace":
            return np.linspace(v.min(), v.max(), self.n_bins + 1)[1:-1]
        qs = np.arange(1, self.n_bins) / self.n_bins
        return np.quantile(v, qs, method="midpoint")

    def fit(self, X, y=None):
        """Learn the thresholds from X (n_samples, n_features) unless they were given."""
        if isinstance(self.thresholds, str):
            x = _numeric_2d(to_numpy(X)[0]).astype(np.float64)
            if x.size == 0:
                raise ShapeError("X must hold at least one sample to learn thresholds")
            if self.columnwise:
                self.thresholds = np.stack([self._learn(x[:, j]) for j in range(x.shape[1])])
            else:
                self.thresholds = self._learn(x)
        return self

    def transform(self, X):
        """uint8 (n_samples, n_features (n_bins - 1)) thermometer code."""
        if isinstance(self.thresholds, str):
            raise ValidationError(f"thresholds is {self.thresholds!r}: call fit before transform")
        x, tensor = to_numpy(X)
        x = _numeric_2d(x)
        t = np.asarray(self.thresholds)
        if t.ndim == 2:
            if t.shape[0] != x.shape[1]:
                raise ShapeError(f"X must have {t.shape[0]} features (one threshold row per feature) (got shape {x.shape})")
            blocks = [x > t[:, k] for k in range(t.shape[1])]
        else:
            blocks = [x > t[k] for k in range(t.shape[0])]
        return like_input(np.concatenate(blocks, axis=1).astype(np.uint8), tensor)


class SequentialBaseTwoEncoder(BaseTransformer):
    """Base-2 code with repetitions: the L-level value q = sum_k 2^k b_k becomes bit b_k
    repeated 2^k times (MSB first), so the L - 1 outputs of a feature sum to q.

    Example: with L = 8, q = 5 = 101b gives 1111 00 1.

    Parameters
    ----------
    n_gray_levels : int
        Number of levels L, a power of two >= 2.

    Attributes
    ----------
    n_bits : int
        log2(L).
    offset, scale : float
        Learned by :meth:`fit`: q = round((L - 1) (x - offset) / scale), clipped to [0, L - 1].
    """

    def __init__(self, n_gray_levels: int = 16):
        n = check_int(n_gray_levels, "n_gray_levels", low=2, high=1 << 16, error=ValidationError)
        if n & (n - 1):
            raise ValidationError(f"n_gray_levels must be a power of 2 (got {n})")
        self.n_gray_levels = n
        self.n_bits = n.bit_length() - 1
        self.offset = None
        self.scale = None

    def fit(self, X, y=None):
        """Learn offset = min(X) and scale = max(X) - min(X) (on the training set only)."""
        x = _numeric_2d(to_numpy(X)[0]).astype(np.float64)
        if x.size == 0:
            raise ShapeError("X must hold at least one sample")
        self.offset = float(x.min())
        self.scale = float(x.max() - self.offset)
        return self

    def normalize(self, X) -> np.ndarray:
        """Levels q in [0, L - 1] (uint16) of X."""
        if self.offset is None:
            raise ValidationError("call fit on the training data before transform")
        x = _numeric_2d(to_numpy(X)[0]).astype(np.float64)
        scale = self.scale if self.scale > 0 else 1.0
        q = np.rint((self.n_gray_levels - 1) * (x - self.offset) / scale)
        return np.clip(q, 0, self.n_gray_levels - 1).astype(np.uint16)

    def transform(self, X):
        """uint8 (n_samples, n_features (L - 1))."""
        tensor = to_numpy(X)[1]
        q = self.normalize(X)
        n, f = q.shape
        bits = [((q >> k) & 1).astype(np.uint8) for k in range(self.n_bits - 1, -1, -1)]
        reps = [np.repeat(b[:, :, None], 1 << k, axis=2) for b, k in zip(bits, range(self.n_bits - 1, -1, -1))]
        out = np.concatenate(reps, axis=2).reshape(n, f * (self.n_gray_levels - 1))
        return like_input(out, tensor)


def _int_magnitude(peak: float, precision: int) -> float:
    """Magnitude making an integer peak an exact shift: (2^p - 1) 2^(b - p), b bits of the peak."""
    if peak <= 0:
        return 0.0
    b = math.ceil(math.log2(peak + 1))
    return (2**precision - 1) * 2.0 ** (b - precision)


class SeparatedBitPlanEncoder(BaseTransformer):
    """Real or integer inputs as ``precision`` bit planes per sign, stacked along the batch.

    Parameters
    ----------
    precision : int
        Bit planes per sign (1..16); each costs one OPU frame per sample and sign. Values
        above 6 rarely help (a warning says so).

    Notes
    -----
    ``transform`` of X (n_samples, n_features) returns (sides n_samples precision,
    n_features) uint8, rows ordered [side][sample][bit, MSB first]; sides is 2 when X has
    both signs. The magnitudes are taken from each transformed batch; :meth:`get_params`
    passes them to :class:`SeparatedBitPlanDecoder` (the facade's ``OPU.transform`` does
    this when given the decoder class). See the module docstring for the equations.
    """

    def __init__(self, precision: int = 6, **kwargs):
        if "n_bits" in kwargs or "starting_bit" in kwargs:
            raise ValidationError("SeparatedBitPlanEncoder takes precision=..., not n_bits / starting_bit (lightonml >= 1.2 interface)")
        if kwargs:
            raise ValidationError(f"unexpected argument(s) {', '.join(sorted(kwargs))} for SeparatedBitPlanEncoder")
        self.precision = check_int(precision, "precision", low=1, high=MAX_PRECISION, error=ValidationError)
        if self.precision > 6:
            warnings.warn(f"precision={self.precision}: values above 6 rarely improve results", UserWarning, stacklevel=2)
        self.magnitude = None, None

    def transform(self, X):
        """uint8 bit planes (sides n_samples precision, n_features)."""
        x, tensor = to_numpy(X)
        x = _numeric_2d(x)
        p = self.precision
        if np.issubdtype(x.dtype, np.integer):
            mag_p = _int_magnitude(float(x.max()) if x.size else 0.0, p)
            mag_n = _int_magnitude(float(-x.astype(np.int64).min()) if x.size else 0.0, p) if np.issubdtype(x.dtype, np.signedinteger) else 0.0
        else:
            xf = x.astype(np.float64)
            mag_p = max(float(xf.max()), 0.0) if xf.size else 0.0
            mag_n = max(float(-xf.min()), 0.0) if xf.size else 0.0
        dequant = 2.0 * (1.0 - 0.5**p)
        self.magnitude = mag_p / dequant, mag_n / dequant
        xf = x.astype(np.float64)
        sides = []
        if mag_p > 0 or mag_n <= 0:
            sides.append(self._planes(np.clip(xf / (mag_p if mag_p > 0 else 1.0), 0.0, 1.0)))
        if mag_n > 0:
            sides.append(self._planes(np.clip(-xf / mag_n, 0.0, 1.0)))
        return like_input(np.concatenate(sides, axis=0), tensor)

    def _planes(self, u: np.ndarray) -> np.ndarray:
        """u in [0, 1] (n, f) -> bit planes (n p, f), MSB first within each sample."""
        p = self.precision
        q = np.floor(u * (2**p - 1) + 0.5).astype(np.uint32)
        planes = np.stack([((q >> (p - 1 - k)) & 1).astype(np.uint8) for k in range(p)], axis=1)  # (n, p, f)
        return planes.reshape(-1, u.shape[1])

    def get_params(self) -> dict:
        """What :class:`SeparatedBitPlanDecoder` needs: precision and the last magnitudes."""
        if self.magnitude[0] is None:
            raise ValidationError("get_params needs a transform first: the magnitudes come from the data")
        return {"precision": self.precision, "magnitude_p": self.magnitude[0], "magnitude_n": self.magnitude[1]}


class SeparatedBitPlanDecoder(BaseTransformer):
    """Recombine the outputs of :class:`SeparatedBitPlanEncoder` frames.

    Parameters
    ----------
    precision : int
        Bit planes per sign used by the encoder.
    magnitude_p, magnitude_n : float
        The encoder's ``get_params()`` magnitudes (>= 0); a side whose magnitude is 0 was
        not sent.
    decoding_decay : float
        Weight ratio between successive bit planes (0.5: exact binary weights).
    """

    def __init__(self, precision: int, magnitude_p: float = 1, magnitude_n: float = 0, decoding_decay: float = 0.5):
        self.precision = check_int(precision, "precision", low=1, high=MAX_PRECISION, error=ValidationError)
        self.magnitude_p = check_real(magnitude_p, "magnitude_p", low=0.0, error=ValidationError)
        self.magnitude_n = check_real(magnitude_n, "magnitude_n", low=0.0, error=ValidationError)
        self.decoding_decay = check_real(decoding_decay, "decoding_decay", error=ValidationError)

    def transform(self, X):
        """float32 (n_samples, n_out) from (sides n_samples precision, n_out) outputs."""
        y, tensor = to_numpy(X)
        y = np.asarray(y)
        if y.ndim != 2:
            raise ShapeError(f"X must be 2-D (sides * n_samples * precision, n_out) (got shape {y.shape})")
        both = self.magnitude_p > 0 and self.magnitude_n > 0
        sides = 2 if both else 1
        rows = y.shape[0]
        if rows % (sides * self.precision):
            raise ShapeError(
                f"X has {rows} rows, not a multiple of sides * precision = {sides} * {self.precision}: "
                "use the precision and magnitudes of the encoder that made the frames (encoder.get_params())"
            )
        n = rows // (sides * self.precision)
        y = y.astype(np.float64).reshape(sides, n, self.precision, y.shape[1])
        w = self.decoding_decay ** np.arange(self.precision, dtype=np.float64)
        parts = np.einsum("snkf,k->snf", y, w)
        if both:
            out = parts[0] * self.magnitude_p - parts[1] * self.magnitude_n
        elif self.magnitude_p > 0 or self.magnitude_n <= 0:
            out = parts[0] * self.magnitude_p
        else:
            out = -parts[0] * self.magnitude_n
        return like_input(out.astype(np.float32), tensor)


class ConcatenatedBitPlanEncoder(BaseTransformer):
    """Bits of unsigned integers laid side by side: (n_samples, n_features n_bits).

    Bit index 0 is the most significant bit of the dtype (bit 7 of a uint8); the encoder
    keeps bits ``starting_bit .. starting_bit + n_bits - 1`` of each feature, in that order,
    feature after feature.

    Parameters
    ----------
    n_bits : int
        Bits kept per feature, >= 1.
    starting_bit : int
        First bit kept (more significant bits are dropped), >= 0; n_bits + starting_bit must
        not exceed the dtype's width.
    """

    def __init__(self, n_bits: int = 8, starting_bit: int = 0):
        self.n_bits = check_int(n_bits, "n_bits", low=1, high=64, error=ValidationError)
        self.starting_bit = check_int(starting_bit, "starting_bit", low=0, high=63, error=ValidationError)

    def transform(self, X):
        """uint8 (n_samples, n_features n_bits)."""
        x, tensor = to_numpy(X)
        x = _numeric_2d(x)
        if not np.issubdtype(x.dtype, np.unsignedinteger):
            raise DTypeError(f"X must be an unsigned integer array (uint8/16/32/64) (got dtype {x.dtype})")
        width = 8 * x.dtype.itemsize
        if self.n_bits + self.starting_bit > width:
            raise ValidationError(f"n_bits + starting_bit must be <= {width}, the bit width of X's dtype {x.dtype} (got {self.n_bits} + {self.starting_bit})")
        xi = x.astype(np.uint64)
        shifts = [width - 1 - (self.starting_bit + k) for k in range(self.n_bits)]
        bits = np.stack([((xi >> np.uint64(s)) & np.uint64(1)).astype(np.uint8) for s in shifts], axis=2)
        return like_input(bits.reshape(x.shape[0], x.shape[1] * self.n_bits), tensor)


class ConcatenatingBitPlanDecoder(BaseTransformer):
    """Weight the outputs of bit-plane frames and lay them side by side as features.

    Input (n_samples n_bits, n_out), rows [sample][bit]; output float32
    (n_samples, n_bits n_out) with bit plane k's block multiplied by ``decoding_decay**k``.

    Parameters
    ----------
    n_bits : int
        Bit planes per sample.
    decoding_decay : float
        Weight ratio between successive planes.
    """

    def __init__(self, n_bits: int = 8, decoding_decay: float = 0.5):
        self.n_bits = check_int(n_bits, "n_bits", low=1, error=ValidationError)
        self.decoding_decay = check_real(decoding_decay, "decoding_decay", error=ValidationError)

    def transform(self, X):
        """float32 (n_samples, n_bits n_out)."""
        y, tensor = to_numpy(X)
        if y.ndim != 2 or y.shape[0] % self.n_bits:
            raise ShapeError(f"X must be 2-D with a multiple of n_bits={self.n_bits} rows (got shape {y.shape}); use the encoder's n_bits")
        n = y.shape[0] // self.n_bits
        w = (self.decoding_decay ** np.arange(self.n_bits, dtype=np.float64))[None, :, None]
        out = (y.astype(np.float64).reshape(n, self.n_bits, y.shape[1]) * w).reshape(n, self.n_bits * y.shape[1])
        return like_input(out.astype(np.float32), tensor)
