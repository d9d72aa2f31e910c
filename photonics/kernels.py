"""Numba kernels of the hot paths, each with a plain-numpy reference twin.

Counter-based randomness
------------------------
Every random number in the hot paths is a pure function of ``(key, major, minor)``:

    k_major = mix64(key XOR (major * G2))          (one per row / frame)
    u64     = mix64(k_major + minor * G1)          (one per draw)

with ``mix64`` the SplitMix64 finalizer (a bijection of 64-bit words with full avalanche) and
G1, G2 odd Weyl constants. Because a draw depends on nothing but its coordinates, the result
of a projection or of a camera read-out is the same whatever the block order, chunk size,
thread count or process count. Keys come from :func:`photonics.rng.stream_key`. Variate
number c of a row uses the words c*16 ... c*16+15; a rejection sampler that needs more takes
word d >= 16 from the extension row ``mix64(k_major XOR (d // 16) * G3)``, so no sampler ever
runs out of draws or falls back to an approximate value.

Normal variates use a 256-layer ziggurat (Marsaglia & Tsang 2000) driven by those words.

The camera's samplers are exact in distribution
-----------------------------------------------
Poisson(mu) (shot noise, :func:`poisson_numba`):

* mu < 10: sequential inversion of one uniform;
* 10 <= mu < ``POISSON_GAUSSIAN_ABOVE`` (1e8 e-): PTRS, Hoermann's transformed rejection
  with squeeze (1993). The squeeze (uniforms and arithmetic only) decides ~75 % of the draws;
  the rest take the exact acceptance test ln(v / h(u)) <= ln p(k) (two logarithms) with ln k!
  from a table (k < 256) or Stirling's series to 1/x^5 (error < 1e-20);
* mu >= 1e8 e-: the Gaussian approximation floor(mu + sqrt(mu) z + 1/2). Its total-variation
  distance from Poisson(mu) is 0.126/sqrt(mu), at most 1.3e-5, while rounding the optical
  power to float32 (as the projection does) already moves the law by up to 2.4e-4 in total
  variation there (a relative 2^-24 shift of the mean is 2^-24 sqrt(mu) standard deviations);
  the float32 GEMM of the field adds more. The switch is therefore the smallest error of the
  chain at such means; below it nothing is approximated beyond double-precision rounding.

Read noise uses the ziggurat above with its rare branches (1 %) computed exactly.

Bit-identical twins
-------------------
``name_numba`` functions are the fast paths (``@njit(cache=True)``, parallel where it helps);
``name_numpy`` functions compute the same values with vectorised numpy, with the same IEEE
operations in the same order, and are what the tests compare against (the torch port,
:mod:`photonics.backends.torch_kernels`, is a third twin). Every accept/reject decision of the
camera's samplers uses only +, -, *, /, sqrt, floor and bit moves: ln and exp are computed by
``_log_pos`` / ``_exp_neg`` (:func:`log_numpy` / :func:`exp_numpy`) from those operations,
never by libm or numpy's SIMD routines (which may differ by an ulp), so the camera's numba,
numpy and torch read-outs are bit-identical, not merely close. (The medium's Gaussian blocks
keep the original ziggurat with libm's exp/log in its 1 % slow branch, so that every seed's
transmission matrix stays what it was.)

Speed: the camera kernels process 1024-pixel blocks in passes the compiler vectorises (the
squeeze on every lane, the exact test and further attempts on the gathered rest, inversion
steps on the small means), each lane doing the reference sampler's arithmetic on the
reference's words, so the numbers equal those of the scalar samplers whatever the grouping.
"""

from __future__ import annotations

import math
import types as pytypes

import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

__all__ = [
    "mix64_numpy",
    "major_keys_numpy",
    "uniform_numpy",
    "normal_numpy",
    "normal_numba",
    "gaussian_block_numba",
    "gaussian_block_fast_numba",
    "gaussian_block_numpy",
    "intensity_numba",
    "intensity_numpy",
    "poisson_numba",
    "poisson_numpy",
    "normal_exact_numba",
    "normal_exact_numpy",
    "log_numpy",
    "exp_numpy",
    "camera_numba",
    "camera_noiseless_numba",
    "camera_field_numba",
    "camera_field_difference_numba",
    "camera_field_noiseless_numba",
    "camera_numpy",
    "camera_field_numpy",
    "camera_field_difference_numpy",
    "POISSON_GAUSSIAN_ABOVE",
    "DRAWS_PER_VARIATE",
]

# --------------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------------
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_G1 = np.uint64(0x9E3779B97F4A7C15)
_G2 = np.uint64(0xD1B54A32D192ED03)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S8 = np.uint64(8)
_MASK8 = np.uint64(0xFF)
_ONE = np.uint64(1)
_TWO53_INV = 1.0 / 9007199254740992.0  # 2**-53

#: Draws reserved for one variate (rejection samplers use up to this many 64-bit words).
DRAWS_PER_VARIATE = 16
_DRAWS = np.uint64(DRAWS_PER_VARIATE)


def _ziggurat_tables(n_layers: int = 256, r: float = 3.6541528853610088, v: float = 4.92867323399e-3):
    """Layer edges of the 256-layer ziggurat for the standard normal density f(x)=exp(-x^2/2).

    Layer 0 is the base strip (box [0, r] x [0, f(r)] plus the tail, of equivalent width
    v / f(r)); layer i >= 1 is the box [0, x_i] x [f(x_i), f(x_{i+1})], x_{n_layers} = 0.
    Returns (x, f, k): edges x_i (n_layers + 1), f(x_i), and the integer acceptance bounds
    k_i = floor(2**53 * x_{i+1} / x_i) used with 53-bit uniforms.
    """
    f = lambda t: math.exp(-0.5 * t * t)  # noqa: E731
    x = np.zeros(n_layers + 1)
    x[0] = v / f(r)
    x[1] = r
    for i in range(1, n_layers):
        arg = f(x[i]) + v / x[i]
        x[i + 1] = math.sqrt(-2.0 * math.log(arg)) if arg < 1.0 else 0.0
    x[n_layers] = 0.0
    fx = np.exp(-0.5 * x * x)
    k = np.zeros(n_layers, dtype=np.uint64)
    for i in range(n_layers):
        k[i] = np.uint64(math.floor(9007199254740992.0 * x[i + 1] / x[i]))
    return x, fx, k


_ZX, _ZF, _ZK = _ziggurat_tables()
_ZR = float(_ZX[1])

# --------------------------------------------------------------------------------------------
# counter-based 64-bit words
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _major_key(key, major):
    return _mix64(key ^ (np.uint64(major) * _G2))


@njit(cache=True, inline="always")
def _word(kmajor, minor):
    return _mix64(kmajor + np.uint64(minor) * _G1)


@njit(cache=True, inline="always")
def _uniform(w):
    """Uniform in the open interval (0, 1) from the top 53 bits of a word."""
    return (np.float64(w >> _S11) + 0.5) * _TWO53_INV


def mix64_numpy(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer on a uint64 array (numpy twin of the numba ``_mix64``)."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def major_keys_numpy(key: int, majors: np.ndarray) -> np.ndarray:
    """Per-row (or per-frame) keys ``mix64(key XOR major*G2)`` as uint64."""
    majors = np.asarray(majors, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64_numpy(np.uint64(key) ^ (majors * _G2))


def _word_numpy(kmajor: np.ndarray, minor: np.ndarray) -> np.ndarray:
    return mix64_numpy(np.asarray(kmajor, dtype=np.uint64) + np.asarray(minor, dtype=np.uint64) * _G1)


def uniform_numpy(words: np.ndarray) -> np.ndarray:
    """Open-interval uniforms from uint64 words (numpy twin of ``_uniform``)."""
    return ((words >> _S11).astype(np.float64) + 0.5) * _TWO53_INV


# --------------------------------------------------------------------------------------------
# standard normal (ziggurat) from counters
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _normal(kmajor, counter):
    """Standard normal variate number ``counter`` of the stream row ``kmajor``."""
    base = np.uint64(counter) * _DRAWS
    d = np.uint64(0)
    x = 0.0
    while d < _DRAWS - np.uint64(3):
        w = _word(kmajor, base + d)
        d += _ONE
        idx = np.intp(w & _MASK8)
        neg = (w >> _S8) & _ONE
        mant = w >> _S11
        x = np.float64(mant) * _TWO53_INV * _ZX[idx]
        if neg:
            x = -x
        if mant < _ZK[idx]:
            return x
        if idx == 0:
            # tail beyond r (Marsaglia): x = r + e1 / r with e1, e2 exponential, 2 e2 > e1^2 / r^2
            u1 = _uniform(_word(kmajor, base + d))
            u2 = _uniform(_word(kmajor, base + d + _ONE))
            d += np.uint64(2)
            t = -math.log(u1) / _ZR
            if -2.0 * math.log(u2) > t * t:
                return -(_ZR + t) if neg else (_ZR + t)
        else:
            u = _uniform(_word(kmajor, base + d))
            d += _ONE
            y = _ZF[idx] + u * (_ZF[idx + 1] - _ZF[idx])
            if y < math.exp(-0.5 * x * x):
                return x
    return x


@njit(cache=True, parallel=True)
def normal_numba(key, majors, n_per_major):
    """Array (len(majors), n_per_major) of standard normals; entry (i, j) is counter j of row majors[i]."""
    out = np.empty((majors.shape[0], n_per_major), dtype=np.float64)
    for i in prange(majors.shape[0]):
        km = _major_key(np.uint64(key), majors[i])
        for j in range(n_per_major):
            out[i, j] = _normal(km, j)
    return out


def _normal_numpy_rows(kmajor: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Vectorised ziggurat: normals for aligned arrays of row keys and counters."""
    kmajor = np.asarray(kmajor, dtype=np.uint64)
    counter = np.asarray(counter, dtype=np.uint64)
    shape = np.broadcast(kmajor, counter).shape
    kmajor = np.broadcast_to(kmajor, shape).ravel()
    base = np.broadcast_to(counter, shape).ravel() * _DRAWS
    out = np.zeros(kmajor.shape[0])
    d = np.zeros(kmajor.shape[0], dtype=np.uint64)
    todo = np.arange(kmajor.shape[0])
    with np.errstate(over="ignore"):
        while todo.size:
            alive = d[todo] < _DRAWS - np.uint64(3)
            todo = todo[alive]
            if not todo.size:
                break
            w = _word_numpy(kmajor[todo], base[todo] + d[todo])
            d[todo] += _ONE
            idx = (w & _MASK8).astype(np.intp)
            neg = ((w >> _S8) & _ONE).astype(bool)
            mant = w >> _S11
            x = mant.astype(np.float64) * _TWO53_INV * _ZX[idx]
            x = np.where(neg, -x, x)
            out[todo] = x
            core = mant < _ZK[idx]
            rest = ~core
            done = core.copy()
            tail = rest & (idx == 0)
            if tail.any():
                t_i = todo[tail]
                u1 = uniform_numpy(_word_numpy(kmajor[t_i], base[t_i] + d[t_i]))
                u2 = uniform_numpy(_word_numpy(kmajor[t_i], base[t_i] + d[t_i] + _ONE))
                d[t_i] += np.uint64(2)
                t = -np.log(u1) / _ZR
                acc = -2.0 * np.log(u2) > t * t
                val = np.where(neg[tail], -(_ZR + t), _ZR + t)
                out[t_i[acc]] = val[acc]
                done[np.flatnonzero(tail)[acc]] = True
            wedge = rest & (idx != 0)
            if wedge.any():
                w_i = todo[wedge]
                u = uniform_numpy(_word_numpy(kmajor[w_i], base[w_i] + d[w_i]))
                d[w_i] += _ONE
                iw = idx[wedge]
                y = _ZF[iw] + u * (_ZF[iw + 1] - _ZF[iw])
                acc = y < np.exp(-0.5 * x[wedge] * x[wedge])
                done[np.flatnonzero(wedge)[acc]] = True
            todo = todo[~done]
    return out.reshape(shape)


def normal_numpy(key: int, majors: np.ndarray, n_per_major: int) -> np.ndarray:
    """Numpy twin of :func:`normal_numba`."""
    km = major_keys_numpy(key, np.asarray(majors, dtype=np.uint64))
    return _normal_numpy_rows(km[:, None], np.arange(n_per_major, dtype=np.uint64)[None, :])


# --------------------------------------------------------------------------------------------
# Gaussian transmission-matrix blocks
# --------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def gaussian_block_numba(key, row0, n_rows, col0, n_cols, sigma, out):
    """Fill ``out`` (n_cols, 2 n_rows) float32 with a block of a CN(0, 2 sigma^2) matrix.

    ``out[j, i] = Re T[row0+i, col0+j]`` and ``out[j, n_rows+i] = Im T[row0+i, col0+j]``,
    with Re and Im independent N(0, sigma^2): the layout that lets a real GEMM
    ``X @ out`` compute the split field [Re(X T^T) | Im(X T^T)]. Entry (r, c) uses the
    counters (row r; 2c) and (row r; 2c+1) of stream ``key``.
    """
    keys = np.empty(n_rows, dtype=np.uint64)
    for i in range(n_rows):
        keys[i] = _major_key(np.uint64(key), np.uint64(row0 + i))
    for j in prange(n_cols):
        c = np.uint64(col0 + j) * np.uint64(2)
        for i in range(n_rows):
            km = keys[i]
            out[j, i] = np.float32(sigma * _normal(km, c))
            out[j, n_rows + i] = np.float32(sigma * _normal(km, c + _ONE))
    return out


@njit(cache=True, inline="always")
def _normal_fast(kmajor, counter):
    """Same value as ``_normal(kmajor, counter)``, with the first ziggurat draw inlined.

    About 99 % of variates are accepted on the first word (the rectangle test of the
    ziggurat); only the others call the general sampler, which redraws from the same
    counters, so the result is bit-identical to :func:`_normal`.
    """
    w = _word(kmajor, np.uint64(counter) * _DRAWS)
    idx = np.intp(w & _MASK8)
    mant = w >> _S11
    if mant < _ZK[idx]:
        x = np.float64(mant) * _TWO53_INV * _ZX[idx]
        if (w >> _S8) & _ONE:
            x = -x
        return x
    return _normal(kmajor, counter)


@njit(cache=True, parallel=True)
def gaussian_block_fast_numba(key, row0, n_rows, col0, n_cols, sigma, out):
    """Same numbers as :func:`gaussian_block_numba` (twin: :func:`gaussian_block_numpy`), faster.

    The ziggurat's accept-on-first-word path is inlined into the loop (see
    ``_normal_fast``), which lets the compiler keep the hot loop free of calls: about 2x
    the entries per second of :func:`gaussian_block_numba`.
    """
    keys = np.empty(n_rows, dtype=np.uint64)
    for i in range(n_rows):
        keys[i] = _major_key(np.uint64(key), np.uint64(row0 + i))
    for j in prange(n_cols):
        c = np.uint64(col0 + j) * np.uint64(2)
        for i in range(n_rows):
            km = keys[i]
            out[j, i] = np.float32(sigma * _normal_fast(km, c))
            out[j, n_rows + i] = np.float32(sigma * _normal_fast(km, c + _ONE))
    return out


def gaussian_block_numpy(key: int, row0: int, n_rows: int, col0: int, n_cols: int, sigma: float) -> np.ndarray:
    """Numpy twin of :func:`gaussian_block_numba` (returns a new array)."""
    km = major_keys_numpy(key, np.arange(row0, row0 + n_rows, dtype=np.uint64))
    c = np.arange(col0, col0 + n_cols, dtype=np.uint64) * np.uint64(2)
    re = _normal_numpy_rows(km[None, :], c[:, None])
    im = _normal_numpy_rows(km[None, :], c[:, None] + _ONE)
    out = np.empty((n_cols, 2 * n_rows), dtype=np.float32)
    out[:, :n_rows] = (sigma * re).astype(np.float32)
    out[:, n_rows:] = (sigma * im).astype(np.float32)
    return out


# --------------------------------------------------------------------------------------------
# intensity from a split field
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _field_power(alpha, scale, s_re, s_im, c_re, c_im):
    """scale |alpha s + c|^2 of one pixel in float32, in this order (every kernel's optical power)."""
    re = alpha * s_re + c_re
    im = alpha * s_im + c_im
    return scale * (re * re + im * im)


@njit(cache=True, parallel=True)
def intensity_numba(split, alpha, c_re, c_im, scale, out):
    """``out[b, i] = scale * ((alpha*split[b, i] + c_re[i])^2 + (alpha*split[b, n+i] + c_im[i])^2)``.

    ``split`` is (batch, 2n) float32 holding [Re | Im] of a field, ``c`` a constant field
    (leaking mirrors, reference) added to every frame, ``scale`` converts |field|^2 to watts.
    """
    n = out.shape[1]
    for b in prange(out.shape[0]):
        for i in range(n):
            out[b, i] = _field_power(alpha, scale, split[b, i], split[b, n + i], c_re[i], c_im[i])
    return out


def intensity_numpy(split, alpha, c_re, c_im, scale):
    """Numpy twin of :func:`intensity_numba` (float32 arithmetic, same order)."""
    n = split.shape[1] // 2
    f32 = np.float32
    re = f32(alpha) * split[:, :n] + c_re
    im = f32(alpha) * split[:, n:] + c_im
    return (f32(scale) * (re * re + im * im)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# bit-exact elementary functions
# --------------------------------------------------------------------------------------------
# log and exp written with IEEE additions, multiplications, divisions, floor and bit moves only,
# so that numba, numpy and torch compute the same bits (libm and numpy's SIMD exp/log may differ
# by an ulp, which would let the twins take different accept/reject decisions).


@intrinsic
def _f64_bits(typingctx, x):
    """The bits of a float64 as a uint64 (a bit cast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(64))

    return types.uint64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, x):
    """The float64 whose bits are the uint64 ``x``."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())

    return types.float64(types.uint64), codegen


_LN2_HI = 6.93147180369123816490e-01  # ln 2, upper part (low 21 bits zero: e * _LN2_HI is exact)
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e00
_SQRT2 = math.sqrt(2.0)
_MANT = np.uint64(0x000FFFFFFFFFFFFF)
_EXP_ONE = np.uint64(0x3FF0000000000000)
_S52 = np.uint64(52)
#: log: 2 atanh(s) = 2 s (1 + z/3 + z^2/5 + ...), z = s^2 <= 0.0295, truncated after z^11/23 (< 1e-18)
_LOG_COEF = tuple(1.0 / (2 * i + 1) for i in range(1, 12))
#: exp: Taylor series of e^r, |r| <= ln2 / 2, to r^13 / 13! (remainder < 5e-18)
_EXP_COEF = tuple(1.0 / math.factorial(i) for i in range(14))
(_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10, _L11) = _LOG_COEF
(_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13) = _EXP_COEF


@njit(cache=True, inline="always", error_model="numpy")
def _log_pos(x):
    """ln x for a positive, finite, normal float64 (error < 2 ulp; twin :func:`log_numpy`).

    x = 2^e m with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m - 1) / (m + 1).
    """
    bits = _f64_bits(x)
    e = np.float64(np.int64(bits >> _S52) - 1023)
    m = _bits_f64((bits & _MANT) | _EXP_ONE)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    t = _L11
    t = _L10 + z * t
    t = _L9 + z * t
    t = _L8 + z * t
    t = _L7 + z * t
    t = _L6 + z * t
    t = _L5 + z * t
    t = _L4 + z * t
    t = _L3 + z * t
    t = _L2 + z * t
    t = _L1 + z * t
    r = z * t
    h = s + s
    return e * _LN2_HI + (h + (h * r + e * _LN2_LO))


@njit(cache=True, inline="always", error_model="numpy")
def _exp_neg(x):
    """e^x for -708 <= x <= 0 (error < 2 ulp; twin :func:`exp_numpy`).

    x = n ln2 + r, |r| <= ln2 / 2; e^x = 2^n e^r with e^r from its Taylor series.
    """
    n = np.floor(x * _INV_LN2 + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    t = _E13
    t = _E12 + r * t
    t = _E11 + r * t
    t = _E10 + r * t
    t = _E9 + r * t
    t = _E8 + r * t
    t = _E7 + r * t
    t = _E6 + r * t
    t = _E5 + r * t
    t = _E4 + r * t
    t = _E3 + r * t
    t = _E2 + r * t
    t = _E1 + r * t
    t = _E0 + r * t
    return t * _bits_f64(np.uint64(np.int64(n) + 1023) << _S52)


def log_numpy(x) -> np.ndarray:
    """Numpy twin of the kernels' ``_log_pos`` (same bits): ln x for positive normal float64."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    bits = x.view(np.uint64)
    e = ((bits >> _S52).astype(np.int64) - 1023).astype(np.float64)
    m = ((bits & _MANT) | _EXP_ONE).view(np.float64)
    big = m > _SQRT2
    m = np.where(big, m * 0.5, m)
    e = np.where(big, e + 1.0, e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    t = np.full_like(z, _LOG_COEF[-1])
    for c in _LOG_COEF[-2::-1]:
        t = c + z * t
    r = z * t
    h = s + s
    return e * _LN2_HI + (h + (h * r + e * _LN2_LO))


def exp_numpy(x) -> np.ndarray:
    """Numpy twin of the kernels' ``_exp_neg`` (same bits): e^x for -708 <= x <= 0."""
    x = np.asarray(x, dtype=np.float64)
    n = np.floor(x * _INV_LN2 + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    t = np.full_like(r, _EXP_COEF[-1])
    for c in _EXP_COEF[-2::-1]:
        t = c + r * t
    scale = ((n.astype(np.int64) + 1023).astype(np.uint64) << _S52).view(np.float64)
    return t * scale


# --------------------------------------------------------------------------------------------
# exact Poisson and normal variates from counters
# --------------------------------------------------------------------------------------------
#: Mean (electrons) above which shot noise uses the Gaussian approximation
#: ``floor(mu + sqrt(mu) z + 1/2)``: its total-variation distance from Poisson(mu) is
#: 0.126 / sqrt(mu) (1.3e-5 at the switch), 19x below the distortion that rounding the optical
#: power to float32 alone causes there (a relative 2^-24 shift of the mean: 2.4e-4).
POISSON_GAUSSIAN_ABOVE = 1.0e8
#: Below this mean (electrons) Poisson variates come from inversion, above from PTRS.
_POISSON_INVERSION_BELOW = 10.0
#: Inversion gives up after this many steps (only reachable through rounding, u within an ulp of 1).
_INVERSION_MAX_STEPS = 200
_RINV = np.array([0.0] + [1.0 / j for j in range(1, _INVERSION_MAX_STEPS + 1)])
#: ln k! for k < 256 (the acceptance test of PTRS; Stirling's series above).
_LOGFACT = np.array([math.lgamma(k + 1.0) for k in range(256)])
#: ln(k + 1) for k < 256.
_LOGX = np.array([math.log(k + 1.0) for k in range(256)])
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_ST1 = 1.0 / 12.0
_ST2 = 1.0 / 360.0
_ST3 = 1.0 / 1260.0
#: Weyl constant of the extension rows: draw d >= 16 of a variate comes from the row key
#: mix64(kmajor XOR (d // 16) * G3), counter base + d % 16 (rejection loops never run out).
_G3 = np.uint64(0x8CB92BA72F3D8DD7)
_S4 = np.uint64(4)
_MASK4 = np.uint64(15)


@njit(cache=True, inline="always", error_model="numpy")
def _word_ext(kmajor, base, d):
    """Word number ``d`` (any d >= 0) of the variate whose first word is at counter ``base``."""
    if d < 16:
        return _word(kmajor, base + np.uint64(d))
    k2 = _mix64(kmajor ^ (np.uint64(d >> 4) * _G3))
    return _word(k2, base + np.uint64(d & 15))


@njit(cache=True, error_model="numpy")
def _normal_exact(kmajor, counter):
    """Standard normal variate ``counter`` of row ``kmajor``: the ziggurat of ``_normal`` with
    bit-exact exp/log in its rare branches and no limit on the number of draws.

    Same value as ``_normal`` whenever the first word is accepted (99 % of variates).
    """
    base = np.uint64(counter) * _DRAWS
    d = 0
    while True:
        w = _word_ext(kmajor, base, d)
        d += 1
        idx = np.intp(w & _MASK8)
        neg = (w >> _S8) & _ONE
        mant = w >> _S11
        x = np.float64(mant) * _TWO53_INV * _ZX[idx]
        if neg:
            x = -x
        if mant < _ZK[idx]:
            return x
        if idx == 0:
            u1 = _uniform(_word_ext(kmajor, base, d))
            u2 = _uniform(_word_ext(kmajor, base, d + 1))
            d += 2
            t = -_log_pos(u1) / _ZR
            if -2.0 * _log_pos(u2) > t * t:
                return -(_ZR + t) if neg else (_ZR + t)
        else:
            u = _uniform(_word_ext(kmajor, base, d))
            d += 1
            y = _ZF[idx] + u * (_ZF[idx + 1] - _ZF[idx])
            if y < _exp_neg(-0.5 * x * x):
                return x


@njit(cache=True, inline="always", error_model="numpy")
def _normal_first(w):
    """The ziggurat's first-word value and whether it is accepted (99 % of words)."""
    idx = np.intp(w & _MASK8)
    mant = w >> _S11
    x = np.float64(mant) * _TWO53_INV * _ZX[idx]
    x = -x if (w >> _S8) & _ONE else x
    return x, mant < _ZK[idx]


@njit(cache=True, inline="always", error_model="numpy")
def _ptrs_consts(lam):
    """PTRS constants (Hoermann 1993) of a mean lam >= 10: a, b, b - 2 and sqrt(lam)."""
    slam = math.sqrt(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    return a, b, b - 2.0, slam


@njit(cache=True, inline="always", error_model="numpy")
def _ptrs_candidate(lam, a, b, w0, w1):
    """Candidate k = floor((2a/us + b) u + lam + 0.43) of one PTRS attempt, with us and v."""
    uu = _uniform(w0) - 0.5
    v = _uniform(w1)
    us = 0.5 - abs(uu)
    k = np.floor((2.0 * a / us + b) * uu + lam + 0.43)
    return k, us, v


@njit(cache=True, inline="always", error_model="numpy")
def _ptrs_squeeze(us, v, bm2):
    """PTRS's immediate acceptance: us >= 0.07 and v <= v_r = 0.9277 - 3.6224 / (b - 2)."""
    return (us >= 0.07) & (v * bm2 <= 0.9277 * bm2 - 3.6224)


@njit(cache=True, inline="always", error_model="numpy")
def _ptrs_accept(lam, a, b, slam, k, us, v):
    """PTRS's exact test: k >= 0, not (us < 0.013 and v > us), and
    ln(v alpha^-1 / (a / us^2 + b)) <= -lam + k ln lam - ln k!.

    With x = k + 1 and r = ln(lam / x), the right side is k r + k ln x - lam - ln k! for
    k < 256 (ln x and ln k! from tables), and, from Stirling's series (4 terms, error < 1e-20),
    (k + 1/2) r - ln(lam)/2 + (x - lam) - ln(2 pi)/2 - series(x) above, where the -ln(lam)/2
    moves to the left side as a factor sqrt(lam) inside its logarithm. Two logarithms per test;
    the cancellation between the large terms stays exact (r is small, x - lam exact).
    """
    bm34 = b - 3.4
    kk = max(k, 0.0)
    big = kk >= 256.0
    us2 = us * us
    q = (v * us2 * (1.1239 * bm34 + 1.1328)) / ((a + b * us2) * bm34)
    lhs = _log_pos(q * slam if big else q)
    x = kk + 1.0
    ix = 1.0 / x
    lr = _log_pos(lam * ix)
    ix2 = ix * ix
    ser = ix * (_ST1 - ix2 * (_ST2 - ix2 * _ST3))
    rhs_big = (kk + 0.5) * lr + ((x - lam) - _HALF_LOG_2PI - ser)
    ki = np.intp(min(kk, 255.0))
    rhs_small = kk * lr + kk * _LOGX[ki] - lam - _LOGFACT[ki]
    rhs = rhs_big if big else rhs_small
    return (lhs <= rhs) & (k >= 0.0) & ((us >= 0.013) | (v <= us))


@njit(cache=True, error_model="numpy")
def _inversion(kmajor, base, lam):
    """Poisson(lam), 0 < lam < 10, by sequential inversion of the first word's uniform."""
    u = _uniform(_word(kmajor, base))
    p = _exp_neg(-lam)
    s = p
    k = 0.0
    j = 1
    while u > s and j <= _INVERSION_MAX_STEPS:
        k += 1.0
        p = (p * lam) * _RINV[j]
        s = s + p
        j += 1
    return k


@njit(cache=True, error_model="numpy")
def _poisson_exact(kmajor, counter, lam):
    """Poisson(lam) variate ``counter`` of row ``kmajor`` (the reference of every fast path).

    0 for lam <= 0; inversion below 10; PTRS (transformed rejection with squeeze, Hoermann
    1993) up to ``POISSON_GAUSSIAN_ABOVE``; ``floor(lam + sqrt(lam) z + 1/2)`` above
    (``inf`` for an infinite mean). Returns a float64 (never overflows an integer).
    """
    lam = np.float64(lam)
    if not lam > 0.0:
        return 0.0
    base = np.uint64(counter) * _DRAWS
    if lam < _POISSON_INVERSION_BELOW:
        return _inversion(kmajor, base, lam)
    if lam >= POISSON_GAUSSIAN_ABOVE:
        if lam == np.inf:
            return lam
        z = _normal_exact(kmajor, counter)
        return max(np.floor(lam + math.sqrt(lam) * z + 0.5), 0.0)
    a, b, bm2, slam = _ptrs_consts(lam)
    d = 0
    while True:
        k, us, v = _ptrs_candidate(lam, a, b, _word_ext(kmajor, base, d), _word_ext(kmajor, base, d + 1))
        d += 2
        if _ptrs_squeeze(us, v, bm2):
            return k
        if _ptrs_accept(lam, a, b, slam, k, us, v):
            return k


@njit(cache=True, parallel=True, error_model="numpy")
def poisson_numba(kmajor, counter, lam):
    """Poisson variates for aligned 1-D arrays of row keys, counters and means (float64)."""
    out = np.empty(lam.shape[0], dtype=np.float64)
    for i in prange(lam.shape[0]):
        out[i] = _poisson_exact(kmajor[i], counter[i], lam[i])
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def normal_exact_numba(kmajor, counter):
    """Standard normals (the camera's read-noise sampler) for aligned 1-D arrays of row keys and counters."""
    out = np.empty(counter.shape[0], dtype=np.float64)
    for i in prange(counter.shape[0]):
        out[i] = _normal_exact(kmajor[i], counter[i])
    return out


# ---- numpy twins of the samplers ------------------------------------------------------------


def _word_ext_numpy(kmajor, base, d) -> np.ndarray:
    kmajor, base, d = np.broadcast_arrays(np.asarray(kmajor, np.uint64), np.asarray(base, np.uint64), np.asarray(d, np.uint64))
    out = np.empty(kmajor.shape, dtype=np.uint64)
    lo = d < np.uint64(16)
    with np.errstate(over="ignore"):
        out[lo] = _word_numpy(kmajor[lo], base[lo] + d[lo])
        hi = ~lo
        if hi.any():
            k2 = mix64_numpy(kmajor[hi] ^ ((d[hi] >> _S4) * _G3))
            out[hi] = _word_numpy(k2, base[hi] + (d[hi] & _MASK4))
    return out


def normal_exact_numpy(kmajor, counter) -> np.ndarray:
    """Numpy twin of :func:`normal_exact_numba` for aligned (broadcast) row keys and counters."""
    kmajor, counter = np.broadcast_arrays(np.asarray(kmajor, dtype=np.uint64), np.asarray(counter, dtype=np.uint64))
    shape = kmajor.shape
    km = kmajor.ravel()
    base = counter.ravel() * _DRAWS
    out = np.zeros(km.shape[0])
    d = np.zeros(km.shape[0], dtype=np.uint64)
    todo = np.arange(km.shape[0])
    with np.errstate(over="ignore"):
        while todo.size:
            w = _word_ext_numpy(km[todo], base[todo], d[todo])
            d[todo] += _ONE
            idx = (w & _MASK8).astype(np.intp)
            neg = ((w >> _S8) & _ONE).astype(bool)
            mant = w >> _S11
            x = mant.astype(np.float64) * _TWO53_INV * _ZX[idx]
            x = np.where(neg, -x, x)
            out[todo] = x
            done = mant < _ZK[idx]
            rest = ~done
            tail = rest & (idx == 0)
            if tail.any():
                t_i = todo[tail]
                u1 = uniform_numpy(_word_ext_numpy(km[t_i], base[t_i], d[t_i]))
                u2 = uniform_numpy(_word_ext_numpy(km[t_i], base[t_i], d[t_i] + _ONE))
                d[t_i] += np.uint64(2)
                t = -log_numpy(u1) / _ZR
                acc = -2.0 * log_numpy(u2) > t * t
                val = np.where(neg[tail], -(_ZR + t), _ZR + t)
                out[t_i[acc]] = val[acc]
                done[np.flatnonzero(tail)[acc]] = True
            wedge = rest & (idx != 0)
            if wedge.any():
                w_i = todo[wedge]
                u = uniform_numpy(_word_ext_numpy(km[w_i], base[w_i], d[w_i]))
                d[w_i] += _ONE
                iw = idx[wedge]
                y = _ZF[iw] + u * (_ZF[iw + 1] - _ZF[iw])
                xw = x[wedge]
                acc = y < exp_numpy(-0.5 * xw * xw)
                done[np.flatnonzero(wedge)[acc]] = True
            todo = todo[~done]
    return out.reshape(shape)


def _ptrs_accept_numpy(lam, a, b, slam, k, us, v):
    bm34 = b - 3.4
    kk = np.maximum(k, 0.0)
    big = kk >= 256.0
    us2 = us * us
    q = (v * us2 * (1.1239 * bm34 + 1.1328)) / ((a + b * us2) * bm34)
    lhs = log_numpy(np.where(big, q * slam, q))
    x = kk + 1.0
    ix = 1.0 / x
    lr = log_numpy(lam * ix)
    ix2 = ix * ix
    ser = ix * (_ST1 - ix2 * (_ST2 - ix2 * _ST3))
    rhs_big = (kk + 0.5) * lr + ((x - lam) - _HALF_LOG_2PI - ser)
    ki = np.minimum(kk, 255.0).astype(np.intp)
    rhs_small = kk * lr + kk * _LOGX[ki] - lam - _LOGFACT[ki]
    rhs = np.where(big, rhs_big, rhs_small)
    return (lhs <= rhs) & (k >= 0.0) & ((us >= 0.013) | (v <= us))


def _ptrs_numpy(km, base, lam) -> np.ndarray:
    slam = np.sqrt(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    bm2 = b - 2.0
    res = np.empty(lam.shape[0])
    todo = np.arange(lam.shape[0])
    d = 0
    while todo.size:
        g_km, g_base, g_lam, g_a, g_b = km[todo], base[todo], lam[todo], a[todo], b[todo]
        uu = uniform_numpy(_word_ext_numpy(g_km, g_base, d)) - 0.5
        v = uniform_numpy(_word_ext_numpy(g_km, g_base, d + 1))
        d += 2
        us = 0.5 - np.abs(uu)
        k = np.floor((2.0 * g_a / us + g_b) * uu + g_lam + 0.43)
        acc = ((us >= 0.07) & (v * bm2[todo] <= 0.9277 * bm2[todo] - 3.6224)) | _ptrs_accept_numpy(g_lam, g_a, g_b, slam[todo], k, us, v)
        res[todo[acc]] = k[acc]
        todo = todo[~acc]
    return res


def _inversion_numpy(km, base, lam) -> np.ndarray:
    u = uniform_numpy(_word_numpy(km, base))
    p = exp_numpy(-lam)
    s = p.copy()
    k = np.zeros(lam.shape[0])
    act = np.arange(lam.shape[0])
    j = 1
    while act.size and j <= _INVERSION_MAX_STEPS:
        act = act[u[act] > s[act]]
        if not act.size:
            break
        k[act] += 1.0
        p[act] = (p[act] * lam[act]) * _RINV[j]
        s[act] = s[act] + p[act]
        j += 1
    return k


def poisson_numpy(kmajor: np.ndarray, counter: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Numpy twin of :func:`poisson_numba` (same bits) for aligned (broadcast) row keys, counters, means."""
    kmajor, counter, lam = np.broadcast_arrays(
        np.asarray(kmajor, dtype=np.uint64), np.asarray(counter, dtype=np.uint64), np.asarray(lam, dtype=np.float64)
    )
    shape = lam.shape
    km, cnt, lam = kmajor.ravel(), counter.ravel(), lam.ravel()
    out = np.zeros(lam.shape[0])
    with np.errstate(over="ignore"):
        base = cnt * _DRAWS
        small = (lam > 0.0) & (lam < _POISSON_INVERSION_BELOW)
        if small.any():
            out[small] = _inversion_numpy(km[small], base[small], lam[small])
        mid = (lam >= _POISSON_INVERSION_BELOW) & (lam < POISSON_GAUSSIAN_ABOVE)
        if mid.any():
            out[mid] = _ptrs_numpy(km[mid], base[mid], lam[mid])
        big = lam >= POISSON_GAUSSIAN_ABOVE
        if big.any():
            lb = lam[big]
            z = normal_exact_numpy(km[big], cnt[big])
            with np.errstate(invalid="ignore"):
                v = np.maximum(np.floor(lb + np.sqrt(lb) * z + 0.5), 0.0)
            out[big] = np.where(np.isinf(lb), lb, v)
    return out.reshape(shape)


# --------------------------------------------------------------------------------------------
# the camera read-out
# --------------------------------------------------------------------------------------------
#: Lanes (pixel samples) of one camera task: a block of a wide frame, or several narrow frames (and
#: exposures) together (:func:`_camera_tasks`); its scratch rows stay in the L2 cache.
_CAMERA_BLOCK = 2048
# scratch rows (float64 and int64) of one camera task
_F_LAM, _F_K, _F_Z, _F_LAMC, _F_KC, _F_KOUT, _F_U, _F_P, _F_S, _F_US, _F_V = range(11)
_N_F = 11
_I_CODE, _I_ZBAD, _I_L1, _I_L2, _I_L3, _I_CNT, _I_POS, _I_OK, _I_LZ, _I_KEY = range(10)
_N_G = 10


@njit(cache=True, inline="always")
def _camera_scratch():
    """Scratch of one chunk of camera tasks: f (float64 rows), g (int64 rows) of ``_CAMERA_BLOCK``
    lanes, and seg (uint64, 2 rows): the shot and read-noise row keys of each segment of a task."""
    return (np.empty((_N_F, _CAMERA_BLOCK)), np.empty((_N_G, _CAMERA_BLOCK), dtype=np.int64),
            np.empty((2, _CAMERA_BLOCK), dtype=np.uint64))


@njit(cache=True, inline="always")
def _lane_source(j, i0, sn, inv_sn, keys):
    """(pixel counter, row key as int64) of lane j of a task whose lanes form segments of sn, segment
    s = j // sn holding pixels i0.. of the frame with row key keys[s]. The segment comes from
    ``inv_sn = 1 / sn`` without an integer division (which does not vectorise): (j + 1/2) / sn lies
    at least 1 / (2 sn) from an integer, far beyond the product's rounding error for j below 2^40."""
    s = np.intp((j + 0.5) * inv_sn)
    return i0 + j - s * sn, np.int64(keys[s])


@njit(cache=True, inline="always", error_model="numpy")
def _shot_lane(lam, base, ks):
    """Attempt 0 of one lane: (k, us, v, code) with PTRS's squeeze (no transcendental).

    k = 0 for lanes that are not PTRS's. code: 0 done (k is the variate), 1 PTRS lane left to
    the exact test, 2 small mean (inversion), 3 anything else (Gaussian branch, infinite mean).
    """
    a, b, bm2, slam = _ptrs_consts(lam)
    k, us, v = _ptrs_candidate(lam, a, b, _word(ks, base), _word(ks, base + _ONE))
    sq = _ptrs_squeeze(us, v, bm2)
    ptrs = (lam >= _POISSON_INVERSION_BELOW) & (lam < POISSON_GAUSSIAN_ABOVE)
    code = 0 if (ptrs & sq) | (lam <= 0.0) else (1 if ptrs else (2 if lam < _POISSON_INVERSION_BELOW else 3))
    return (k if ptrs else 0.0), us, v, code


@njit(cache=True, error_model="numpy")
def _shot_first(lamv, n, i0, ks, kres, usv, vv, code):
    """Attempt 0 of every lane (``_shot_lane``): PTRS's squeeze decides ~75 % of the lanes."""
    for j in range(n):
        k, us, v, c = _shot_lane(lamv[j], np.uint64(i0 + j) * _DRAWS, ks)
        kres[j] = k
        usv[j] = us
        vv[j] = v
        code[j] = c


@njit(cache=True, inline="always")
def _first_pass_rows(f, g, o, n):
    """The rows a first pass writes, lanes o..o+n-1: (mean, k, us, v, z, code, zbad). Contiguous
    slices: indexing the whole rows at o + j would keep the pass from vectorising."""
    return (f[_F_LAM, o : o + n], f[_F_K, o : o + n], f[_F_US, o : o + n], f[_F_V, o : o + n], f[_F_Z, o : o + n],
            g[_I_CODE, o : o + n], g[_I_ZBAD, o : o + n])


@njit(cache=True, inline="always", error_model="numpy")
def _first_pass_lane(j, lam, i0, ks, kr, lamv, kres, usv, vv, zv, code, zbad):
    """Lane j of a first pass (pixel i0 + j, mean lam electrons): attempt 0 of the shot noise
    (``_shot_lane``) and the read noise's first ziggurat word."""
    base = np.uint64(i0 + j) * _DRAWS
    k, us, v, c = _shot_lane(lam, base, ks)
    z, zok = _normal_first(_word(kr, base))
    lamv[j] = lam
    kres[j] = k
    usv[j] = us
    vv[j] = v
    code[j] = c
    zv[j] = z
    zbad[j] = not zok


@njit(cache=True, error_model="numpy")
def _first_pass_power(pw, ew, de, n, i0, o, ks, kr, f, g):
    """Mean electrons from the power, attempt 0 of the shot noise and the read noise's first
    ziggurat word of pixels i0..i0+n-1 of one frame (row keys ks, kr), in one vectorised loop (the
    common chain); pixel i0 + j goes to lane o + j."""
    lamv, kres, usv, vv, zv, code, zbad = _first_pass_rows(f, g, o, n)
    for j in range(n):
        lam = np.float64(pw[j]) * ew[j] + de[j]
        _first_pass_lane(j, lam, i0, ks, kr, lamv, kres, usv, vv, zv, code, zbad)


@njit(cache=True, error_model="numpy")
def _first_pass_field(sr, si, cr, ci, alpha, scale, ew, de, n, i0, o, ks, kr, f, g):
    """:func:`_first_pass_power` with the power computed from the split field as
    :func:`intensity_numba` computes it (float32)."""
    lamv, kres, usv, vv, zv, code, zbad = _first_pass_rows(f, g, o, n)
    for j in range(n):
        lam = np.float64(_field_power(alpha, scale, sr[j], si[j], cr[j], ci[j])) * ew[j] + de[j]
        _first_pass_lane(j, lam, i0, ks, kr, lamv, kres, usv, vv, zv, code, zbad)


@njit(cache=True, error_model="numpy")
def _split_codes(code, n, l1, l2, l3):
    """Lanes with code 1, 2, 3 into the lists l1, l2, l3 (branch-free compaction); their lengths."""
    m = 0
    for j in range(n):
        l3[m] = j
        m += code[j] != 0
    return _split_listed(code, m, l1, l2, l3)


@njit(cache=True, error_model="numpy")
def _split_codes_z(code, zbad, n, l1, l2, l3, lz):
    """:func:`_split_codes`, and the lanes whose first ziggurat word was rejected (``zbad``) into
    lz, in one pass over the block; returns the lengths of l1, l2, l3 and lz."""
    m = 0
    mz = 0
    for j in range(n):
        l3[m] = j
        m += code[j] != 0
        lz[mz] = j
        mz += zbad[j] != 0
    m1, m2, m3 = _split_listed(code, m, l1, l2, l3)
    return m1, m2, m3, mz


@njit(cache=True, error_model="numpy", inline="always")
def _split_listed(code, m, l1, l2, l3):
    """The m lanes listed in l3 (nonzero codes) into l1, l2, l3 by code 1, 2, 3 (in place: l3 only shrinks)."""
    m1 = 0
    m2 = 0
    m3 = 0
    for q in range(m):
        j = l3[q]
        c = code[j]
        l1[m1] = j
        m1 += c == 1
        l2[m2] = j
        m2 += c == 2
        l3[m3] = j
        m3 += c == 3
    return m1, m2, m3


@njit(cache=True, error_model="numpy")
def _ptrs_exact_stage(lamc, kc, usc, vc, m, ok):
    """PTRS's exact test for m gathered lanes whose candidate (k, us, v) the squeeze left open."""
    for q in range(m):
        lam = lamc[q]
        a, b, bm2, slam = _ptrs_consts(lam)
        ok[q] = _ptrs_accept(lam, a, b, slam, kc[q], usc[q], vc[q])


@njit(cache=True, error_model="numpy")
def _ptrs_squeeze_stage(lamc, cnt, key, m, d, kc, usc, vc, ok):
    """Attempt d/2 (words d, d+1) of PTRS for m gathered lanes (row key, counter): candidate and squeeze."""
    for q in range(m):
        lam = lamc[q]
        base = np.uint64(cnt[q]) * _DRAWS
        ks = np.uint64(key[q])
        a, b, bm2, slam = _ptrs_consts(lam)
        k, us, v = _ptrs_candidate(lam, a, b, _word_ext(ks, base, d), _word_ext(ks, base, d + 1))
        kc[q] = k
        usc[q] = us
        vc[q] = v
        ok[q] = _ptrs_squeeze(us, v, bm2)


@njit(cache=True, error_model="numpy")
def _keep_open_lanes(m, ok, l1, lamc, cnt, key, kc, kres):
    """Accepted lanes write their variate to kres; the open ones keep their index, mean, counter and row key,
    compacted to the front (returned count). After an exact test that is all the next attempt needs
    (its squeeze computes k, us and v afresh).

    Branch-free: every lane writes its candidate (an open lane's is overwritten when it is
    accepted) and is copied to position m2, which only advances for open lanes.
    """
    m2 = 0
    for q in range(m):
        kres[l1[q]] = kc[q]
        l1[m2] = l1[q]
        lamc[m2] = lamc[q]
        cnt[m2] = cnt[q]
        key[m2] = key[q]
        m2 += ok[q] == 0
    return m2


@njit(cache=True, error_model="numpy")
def _keep_open(m, ok, l1, lamc, cnt, key, kc, usc, vc, kres):
    """:func:`_keep_open_lanes`, the open lanes also keeping their candidate (k, us, v) for the exact test."""
    m2 = _keep_open_lanes(m, ok, l1, lamc, cnt, key, kc, kres)
    p = 0
    for q in range(m):
        kc[p] = kc[q]
        usc[p] = usc[q]
        vc[p] = vc[q]
        p += ok[q] == 0
    return m2


@njit(cache=True, error_model="numpy")
def _inversion_lanes(lamc, cnt, key, m, kc, uc, pc, sc, pos, kout):
    """Inversion for m gathered lanes: six steps for every lane, then four at a time on those still running.

    Lane q ends with kout[q] = the same value as ``_inversion`` (an inactive lane's k no
    longer changes, so running further steps on it changes nothing).
    """
    for q in range(m):
        lam = lamc[q]
        u = _uniform(_word(np.uint64(key[q]), np.uint64(cnt[q]) * _DRAWS))
        p = _exp_neg(-lam)
        s = p
        k = 0.0
        # steps j = 1..6 of _inversion's loop, in registers
        k += 1.0 if u > s else 0.0
        p = (p * lam) * _RINV[1]
        s = s + p
        k += 1.0 if u > s else 0.0
        p = (p * lam) * _RINV[2]
        s = s + p
        k += 1.0 if u > s else 0.0
        p = (p * lam) * _RINV[3]
        s = s + p
        k += 1.0 if u > s else 0.0
        p = (p * lam) * _RINV[4]
        s = s + p
        k += 1.0 if u > s else 0.0
        p = (p * lam) * _RINV[5]
        s = s + p
        k += 1.0 if u > s else 0.0
        p = (p * lam) * _RINV[6]
        s = s + p
        kout[q] = k
        uc[q] = u
        pc[q] = p
        sc[q] = s
    m2 = 0
    for q in range(m):  # the lanes still running, then their state (in place: pos[t] >= t)
        pos[m2] = q
        m2 += uc[q] > sc[q]
    m = m2
    for t in range(m):
        q = pos[t]
        lamc[t] = lamc[q]
        uc[t] = uc[q]
        pc[t] = pc[q]
        sc[t] = sc[q]
        kc[t] = kout[q]
    j = 7
    while m > 0:
        for _r in range(4):
            if j > _INVERSION_MAX_STEPS:
                break
            rj = _RINV[j]
            for q in range(m):
                s = sc[q]
                kc[q] += 1.0 if uc[q] > s else 0.0
                p = (pc[q] * lamc[q]) * rj
                pc[q] = p
                sc[q] = s + p
            j += 1
        m2 = 0
        for q in range(m):
            kout[pos[q]] = kc[q]
            live = (uc[q] > sc[q]) & (j <= _INVERSION_MAX_STEPS)
            lamc[m2] = lamc[q]
            uc[m2] = uc[q]
            pc[m2] = pc[q]
            sc[m2] = sc[q]
            kc[m2] = kc[q]
            pos[m2] = pos[q]
            m2 += live
        m = m2


@njit(cache=True, error_model="numpy")
def _shot_block(lamv, n, i0, sk, f, g):
    """Poisson(lamv[j]) of pixel i0 + j of one frame (row key sk[0]) into f[_F_K] (the vectorised pipeline).

    The same numbers as ``_poisson_exact(sk[0], i0 + j, lamv[j])``: the passes only regroup
    the lanes (squeeze on all, exact test and later attempts on the gathered rest, inversion
    on the small means), each lane doing the reference's arithmetic on the reference's words.
    """
    _shot_first(lamv, n, i0, sk[0], f[_F_K], f[_F_US], f[_F_V], g[_I_CODE])
    m, ms, mo = _split_codes(g[_I_CODE], n, g[_I_L1], g[_I_L2], g[_I_L3])
    _shot_listed(lamv, i0, n, sk, m, ms, mo, f, g)


@njit(cache=True, error_model="numpy")
def _shot_listed(lamv, i0, sn, sk, m, ms, mo, f, g):
    """The lanes that attempt 0's squeeze left open, once listed (m PTRS lanes in l1, ms small
    means in l2, mo others in l3): exact tests, further attempts, inversion, the rest exactly; the
    variates end in f[_F_K]. The lanes form segments of sn: lane j of segment s = j // sn is
    pixel i0 + j - s sn of the frame whose shot row key is sk[s]."""
    kres = f[_F_K]
    lamc = f[_F_LAMC]
    kc = f[_F_KC]
    usv = f[_F_US]
    vv = f[_F_V]
    usc = f[_F_U]
    vc = f[_F_P]
    l1 = g[_I_L1]
    cnt = g[_I_CNT]
    key = g[_I_KEY]
    inv = 1.0 / sn
    for q in range(m):
        j = l1[q]
        lamc[q] = lamv[j]
        cnt[q], key[q] = _lane_source(j, i0, sn, inv, sk)
        kc[q] = kres[j]
        usc[q] = usv[j]
        vc[q] = vv[j]
    _shot_open_lanes(lamv, i0, sn, sk, m, ms, mo, f, g)


@njit(cache=True, error_model="numpy")
def _shot_open_lanes(lamv, i0, sn, sk, m, ms, mo, f, g):
    """Finish the open lanes: l1 (m PTRS lanes, gathered), l2 (ms small means), l3 (mo other)."""
    kres = f[_F_K]
    lamc = f[_F_LAMC]
    kc = f[_F_KC]
    usc = f[_F_U]
    vc = f[_F_P]
    l1 = g[_I_L1]
    l2 = g[_I_L2]
    l3 = g[_I_L3]
    cnt = g[_I_CNT]
    key = g[_I_KEY]
    ok = g[_I_OK]
    d = 0  # attempt 0's squeeze is done
    while m:
        if d:
            _ptrs_squeeze_stage(lamc, cnt, key, m, d, kc, usc, vc, ok)
            m = _keep_open(m, ok, l1, lamc, cnt, key, kc, usc, vc, kres)
        if m:
            _ptrs_exact_stage(lamc, kc, usc, vc, m, ok)
            m = _keep_open_lanes(m, ok, l1, lamc, cnt, key, kc, kres)
        d += 2
    inv = 1.0 / sn
    if ms:
        for q in range(ms):
            j = l2[q]
            lamc[q] = lamv[j]
            cnt[q], key[q] = _lane_source(j, i0, sn, inv, sk)
        kout = f[_F_KOUT]
        _inversion_lanes(lamc, cnt, key, ms, kc, f[_F_U], f[_F_P], f[_F_S], g[_I_POS], kout)
        for q in range(ms):
            kres[l2[q]] = kout[q]
    for q in range(mo):
        j = l3[q]
        c, k = _lane_source(j, i0, sn, inv, sk)
        kres[j] = _poisson_exact(np.uint64(k), c, lamv[j])


@njit(cache=True, error_model="numpy")
def _normal_wedge(cnt, key, m, zc, ok):
    """The ziggurat's second step for m gathered lanes (counter, row key) whose first word fell outside
    its box: the wedge test with the next word (layers >= 1; the base strip's tail is left, ok = 0)."""
    for q in range(m):
        base = np.uint64(cnt[q]) * _DRAWS
        kr = np.uint64(key[q])
        w = _word(kr, base)
        idx = np.intp(w & _MASK8)
        x = np.float64(w >> _S11) * _TWO53_INV * _ZX[idx]
        x = -x if (w >> _S8) & _ONE else x
        u = _uniform(_word(kr, base + _ONE))
        iw = max(idx, 1)
        y = _ZF[iw] + u * (_ZF[iw + 1] - _ZF[iw])
        zc[q] = x
        ok[q] = (idx != 0) & (y < _exp_neg(-0.5 * x * x))


@njit(cache=True, error_model="numpy")
def _read_block(n, i0, rk, zv, bad, lst, cnt, key, zc, ok):
    """N(0, 1) of pixel i0 + j of one frame (row key rk[0]) into zv: the ziggurat's first word for all
    lanes, its wedge test for the ~1 % left (gathered), the exact sampler for the rest (the same
    values as ``_normal_exact``)."""
    kr = rk[0]
    for j in range(n):
        x, good = _normal_first(_word(kr, np.uint64(i0 + j) * _DRAWS))
        zv[j] = x
        bad[j] = not good
    m = 0
    for j in range(n):
        lst[m] = j
        m += bad[j] != 0
    _read_open_lanes(i0, n, rk, zv, lst, m, cnt, key, zc, ok)


@njit(cache=True, error_model="numpy")
def _read_open_lanes(i0, sn, rk, zv, lst, m, cnt, key, zc, ok):
    """The m lanes (list lst) whose first ziggurat word was rejected: wedge test, then exactly
    (segments of sn lanes as in :func:`_shot_listed`, read-noise row keys rk)."""
    if m == 0:
        return
    inv = 1.0 / sn
    for q in range(m):
        cnt[q], key[q] = _lane_source(lst[q], i0, sn, inv, rk)
    _normal_wedge(cnt, key, m, zc, ok)
    for q in range(m):
        zv[lst[q]] = zc[q] if ok[q] else _normal_exact(np.uint64(key[q]), cnt[q])


@njit(cache=True, error_model="numpy")
def _finish_block(kres, zv, lamv, n, off, read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize, sub_dn, o):
    """Full well, read noise, gain, offset and ADC of a block; o[j] = DN (or float32(DN) - sub_dn)."""
    rn = read_noise_e > 0.0
    if shot and rn and clip_full_well and quantize:  # the common chain, without branches
        for j in range(n):
            e = min(kres[j], full_well_e) + read_noise_e * zv[j]
            dn = min(max(np.floor(e * dn_per_e + off[j] + 0.5), 0.0), max_dn)
            if sub_dn is None:
                o[j] = dn
            else:
                o[j] = np.float32(dn) - np.float32(sub_dn)
        return
    for j in range(n):
        e = kres[j] if shot else lamv[j]
        if clip_full_well:
            e = min(e, full_well_e)
        if rn:
            e = e + read_noise_e * zv[j]
        dn = e * dn_per_e + off[j]
        if quantize:
            dn = min(max(np.floor(dn + 0.5), 0.0), max_dn)
        if sub_dn is None:
            o[j] = dn
        else:
            o[j] = np.float32(dn) - np.float32(sub_dn)


@njit(cache=True, error_model="numpy")
def _camera_task(lamv, n, i0, frame, offset_blk, read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize,
                 key_shot, key_read, sub_dn, oblk, f, g, seg):
    """Read out pixels i0..i0+n-1 of one frame (global index ``frame``) from their mean electrons lamv
    into ``oblk`` (n,), any chain; ``offset_blk``: the offsets of these pixels [DN]."""
    _segment_keys(key_shot, key_read, frame, 0, seg)
    if shot:
        _shot_block(lamv, n, i0, seg[0], f, g)
    if read_noise_e > 0.0:
        _read_block(n, i0, seg[1], f[_F_Z], g[_I_ZBAD], g[_I_L1], g[_I_CNT], g[_I_KEY], f[_F_KC], g[_I_OK])
    _finish_block(f[_F_K], f[_F_Z], lamv, n, offset_blk, read_noise_e, full_well_e, dn_per_e, max_dn, shot,
                  clip_full_well, quantize, sub_dn, oblk)


@njit(cache=True, inline="always")
def _segment_keys(key_shot, key_read, frame, s, seg):
    """Row keys (shot, read noise) of global frame ``frame``, recorded as segment s's; returns them."""
    fr = np.uint64(frame)
    ks = _major_key(np.uint64(key_shot), fr)
    kr = _major_key(np.uint64(key_read), fr)
    seg[0, s] = ks
    seg[1, s] = kr
    return ks, kr


@njit(cache=True, error_model="numpy")
def _resolve_lanes(n_lanes, i0, sn, seg, f, g):
    """The common chain (shot and read noise) after the first passes of a task's segments
    (``_first_pass_*``, segment s in lanes s sn .. s sn + sn - 1, row keys seg[:, s]): every
    lane's shot-noise electrons end in f[_F_K], its read-noise normal in f[_F_Z]. The open lanes of
    all segments go through the later passes together (fewer, longer passes)."""
    m, ms, mo, mz = _split_codes_z(g[_I_CODE], g[_I_ZBAD], n_lanes, g[_I_L1], g[_I_L2], g[_I_L3], g[_I_LZ])
    _shot_listed(f[_F_LAM], i0, sn, seg[0], m, ms, mo, f, g)
    _read_open_lanes(i0, sn, seg[1], f[_F_Z], g[_I_LZ], mz, g[_I_POS], g[_I_KEY], f[_F_KOUT], g[_I_OK])


@njit(cache=True, error_model="numpy")
def _finish_segment(f, s, n, offset_blk, read_noise_e, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, sub_dn, oblk):
    """Full well, read noise, gain, offset and ADC of segment s (n lanes) of a resolved task into ``oblk``."""
    a = s * n
    _finish_block(f[_F_K, a : a + n], f[_F_Z, a : a + n], f[_F_LAM, a : a + n], n, offset_blk, read_noise_e, full_well_e, dn_per_e,
                  max_dn, True, clip_full_well, quantize, sub_dn, oblk)


@njit(cache=True, error_model="numpy")
def _finish_frames(b0, b1, i0, n, seg, f, g, offset_blk, read_noise_e, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, sub_dn,
                   out):
    """The common chain of a task of frames b0..b1-1 (frame b in segment b - b0, pixels i0..i0+n-1)
    after their first passes: the open lanes resolved together, then each frame read out into
    ``out[b, i0:i0+n]`` (DN, or float32(DN) - sub_dn)."""
    _resolve_lanes((b1 - b0) * n, i0, n, seg, f, g)
    for b in range(b0, b1):
        _finish_segment(f, b - b0, n, offset_blk, read_noise_e, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, sub_dn,
                        out[b, i0 : i0 + n])


@njit(cache=True, inline="always")
def _camera_tasks(n_frames, n_pix, per_frame):
    """How a read-out of ``per_frame`` exposures per frame is cut into tasks of at most
    ``_CAMERA_BLOCK`` lanes: (pixels per block, blocks per frame, frames per task, tasks, chunks of
    tasks handed to the threads). A frame wider than a block is cut into blocks (a task each);
    narrower frames are grouped, so that the passes over a task's lanes stay long. The numbers
    do not depend on the cut (counter-based draws)."""
    pix_block = _CAMERA_BLOCK // per_frame
    n_blocks = (n_pix + pix_block - 1) // pix_block
    group = max(1, pix_block // max(1, n_pix))
    n_tasks = n_blocks * ((n_frames + group - 1) // group)
    return pix_block, n_blocks, group, n_tasks, min(n_tasks, 64)


@njit(cache=True, inline="always")
def _pixel_maps(e_per_w, dark_e, offset_dn, i0, n):
    """The camera's per-pixel maps of pixels i0..i0+n-1: electrons per watt, dark electrons, offset [DN]."""
    return e_per_w[i0 : i0 + n], dark_e[i0 : i0 + n], offset_dn[i0 : i0 + n]


@njit(cache=True, inline="always")
def _camera_task_block(t, pix_block, n_blocks, group, n_frames, n_pix):
    """Task t: frames b0..b1-1 and pixels i0..i0+n-1 (frame-group-major blocks of ``pix_block`` pixels)."""
    i0 = (t % n_blocks) * pix_block
    b0 = (t // n_blocks) * group
    return b0, min(b0 + group, n_frames), i0, min(pix_block, n_pix - i0)


@njit(cache=True, parallel=True, error_model="numpy")
def camera_numba(
    power_w,
    e_per_w,
    dark_e,
    offset_dn,
    read_noise_e,
    full_well_e,
    dn_per_e,
    max_dn,
    shot,
    clip_full_well,
    quantize,
    key_shot,
    key_read,
    frame0,
    out,
):
    """Camera read-out of a batch of frames.

    For frame b (global index ``frame0 + b``) and pixel i::

        mean_e = power_w[b, i] * e_per_w[i] + dark_e[i]
        e      = Poisson(mean_e)              if shot else mean_e
        e      = min(e, full_well_e)          if clip_full_well
        e     += read_noise_e * N(0, 1)
        dn     = e * dn_per_e + offset_dn[i]
        dn     = clip(round(dn), 0, max_dn)   if quantize

    ``e_per_w`` holds the per-pixel photo-electrons per watt (exposure, QE, PRNU, photon
    energy), ``dark_e`` the per-pixel mean dark electrons (dark current x exposure),
    ``offset_dn`` the per-pixel electronic offset added after the gain (black level plus the
    offset non-uniformity) [DN]. Poisson(mean_e) is draw ``i`` of the row key
    ``mix64(key_shot XOR frame * G2)`` (:func:`poisson_numba`), N(0, 1) draw ``i`` of the row
    ``key_read`` (:func:`normal_exact_numba`): the values do not depend on how the work is cut.
    Every value stays a float64 until the store (no integer overflow at any power).
    """
    n_frames, n_pix = power_w.shape
    pix_block, n_blocks, group, n_tasks, n_chunks = _camera_tasks(n_frames, n_pix, 1)
    for c in prange(n_chunks):
        f, g, seg = _camera_scratch()
        lamv = f[_F_LAM]
        for t in range(c * n_tasks // n_chunks, (c + 1) * n_tasks // n_chunks):
            b0, b1, i0, n = _camera_task_block(t, pix_block, n_blocks, group, n_frames, n_pix)
            ew, de, ob = _pixel_maps(e_per_w, dark_e, offset_dn, i0, n)
            if shot and read_noise_e > 0.0:  # the common chain: fused first passes, the open lanes of all frames together
                for b in range(b0, b1):
                    ks, kr = _segment_keys(key_shot, key_read, frame0 + b, b - b0, seg)
                    _first_pass_power(power_w[b, i0 : i0 + n], ew, de, n, i0, (b - b0) * n, ks, kr, f, g)
                _finish_frames(b0, b1, i0, n, seg, f, g, ob, read_noise_e, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, None, out)
                continue
            for b in range(b0, b1):
                pw = power_w[b, i0 : i0 + n]
                for j in range(n):
                    lamv[j] = np.float64(pw[j]) * ew[j] + de[j]
                _camera_task(lamv, n, i0, frame0 + b, ob, read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize,
                             key_shot, key_read, None, out[b, i0 : i0 + n], f, g, seg)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def camera_field_numba(split, alpha, c_re, c_im, scale, e_per_w, dark_e, offset_dn, read_noise_e, full_well_e, dn_per_e, max_dn,
                       shot, clip_full_well, quantize, key_shot, key_read, frame0, sub_dn, out):
    """:func:`intensity_numba` and :func:`camera_numba` fused: frames from a split field.

    ``split`` (batch, 2 n) float32 [Re | Im] of the modulated field; the optical power of
    pixel i is computed exactly as :func:`intensity_numba` does (float32), then read out as
    :func:`camera_numba` does. ``out`` receives ``float32(DN) - float32(sub_dn)`` (the
    projection's DN above the black level) or, with ``sub_dn=None``, the DN themselves.
    """
    n_frames = split.shape[0]
    n_pix = out.shape[1]
    pix_block, n_blocks, group, n_tasks, n_chunks = _camera_tasks(n_frames, n_pix, 1)
    for c in prange(n_chunks):
        f, g, seg = _camera_scratch()
        for t in range(c * n_tasks // n_chunks, (c + 1) * n_tasks // n_chunks):
            b0, b1, i0, n = _camera_task_block(t, pix_block, n_blocks, group, n_frames, n_pix)
            cr = c_re[i0 : i0 + n]
            ci = c_im[i0 : i0 + n]
            ew, de, ob = _pixel_maps(e_per_w, dark_e, offset_dn, i0, n)
            if shot and read_noise_e > 0.0:  # the common chain: fused first passes, the open lanes of all frames together
                for b in range(b0, b1):
                    ks, kr = _segment_keys(key_shot, key_read, frame0 + b, b - b0, seg)
                    _first_pass_field(split[b, i0 : i0 + n], split[b, n_pix + i0 : n_pix + i0 + n], cr, ci, alpha, scale, ew, de, n, i0,
                                      (b - b0) * n, ks, kr, f, g)
                _finish_frames(b0, b1, i0, n, seg, f, g, ob, read_noise_e, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, sub_dn,
                               out)
                continue
            for b in range(b0, b1):
                _field_block(split[b, i0 : i0 + n], split[b, n_pix + i0 : n_pix + i0 + n], cr, ci, alpha, scale, ew, de, n, i0, frame0 + b, ob,
                             read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize, key_shot, key_read, sub_dn,
                             out[b, i0 : i0 + n], f, g, seg)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def camera_field_difference_numba(split, alpha, on_re, on_im, off_re, off_im, scale, e_per_w, dark_e, offset_dn, read_noise_e,
                                  full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize, key_shot, key_read, frame_on0,
                                  frame_off0, level, norm, out):
    """The exact scheme's two exposures of each frame and their linear combination, in one pass.

    For frame b and pixel i, with the reference-ON constant field (``on_re``, ``on_im``) and
    the reference-OFF one (``off_re``, ``off_im``), the camera reads I_on (global frame index
    ``frame_on0 + b``) and I_off (``frame_off0 + b``) exactly as :func:`camera_field_numba` does
    with ``sub_dn=0``, and ``out[b, i]`` receives, in float32 and in this order,

        ((float32(DN_on) - float32(DN_off)) - level[i]) / norm[i]

    (``level`` and ``norm`` float32): the numbers of two :func:`camera_field_numba` calls
    followed by ``np.subtract`` twice and ``np.divide``, without the intermediate arrays.
    """
    n_frames = split.shape[0]
    n_pix = out.shape[1]
    pix_block, n_blocks, group, n_tasks, n_chunks = _camera_tasks(n_frames, n_pix, 2)
    for c in prange(n_chunks):
        f, g, seg = _camera_scratch()
        off = np.empty(pix_block, dtype=np.float32)
        for t in range(c * n_tasks // n_chunks, (c + 1) * n_tasks // n_chunks):
            b0, b1, i0, n = _camera_task_block(t, pix_block, n_blocks, group, n_frames, n_pix)
            onr = on_re[i0 : i0 + n]
            oni = on_im[i0 : i0 + n]
            offr = off_re[i0 : i0 + n]
            offi = off_im[i0 : i0 + n]
            ew, de, ob = _pixel_maps(e_per_w, dark_e, offset_dn, i0, n)
            lv = level[i0 : i0 + n]
            nv = norm[i0 : i0 + n]
            common = shot and read_noise_e > 0.0
            if common:  # fused first passes (segment 2 (b - b0): ON, + 1: OFF), the open lanes of all exposures together
                for b in range(b0, b1):
                    sr = split[b, i0 : i0 + n]
                    si = split[b, n_pix + i0 : n_pix + i0 + n]
                    s = 2 * (b - b0)
                    ks, kr = _segment_keys(key_shot, key_read, frame_on0 + b, s, seg)
                    _first_pass_field(sr, si, onr, oni, alpha, scale, ew, de, n, i0, s * n, ks, kr, f, g)
                    ks, kr = _segment_keys(key_shot, key_read, frame_off0 + b, s + 1, seg)
                    _first_pass_field(sr, si, offr, offi, alpha, scale, ew, de, n, i0, (s + 1) * n, ks, kr, f, g)
                _resolve_lanes(2 * (b1 - b0) * n, i0, n, seg, f, g)
            for b in range(b0, b1):
                o = out[b, i0 : i0 + n]
                if common:
                    s = 2 * (b - b0)
                    _finish_segment(f, s, n, ob, read_noise_e, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, 0.0, o)
                    _finish_segment(f, s + 1, n, ob, read_noise_e, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, 0.0, off[:n])
                else:
                    sr = split[b, i0 : i0 + n]
                    si = split[b, n_pix + i0 : n_pix + i0 + n]
                    _field_block(sr, si, onr, oni, alpha, scale, ew, de, n, i0, frame_on0 + b, ob, read_noise_e, full_well_e, dn_per_e,
                                 max_dn, shot, clip_full_well, quantize, key_shot, key_read, 0.0, o, f, g, seg)
                    _field_block(sr, si, offr, offi, alpha, scale, ew, de, n, i0, frame_off0 + b, ob, read_noise_e, full_well_e, dn_per_e,
                                 max_dn, shot, clip_full_well, quantize, key_shot, key_read, 0.0, off[:n], f, g, seg)
                for j in range(n):
                    o[j] = ((o[j] - off[j]) - lv[j]) / nv[j]
    return out


@njit(cache=True, error_model="numpy")
def _field_block(sr, si, cr, ci, alpha, scale, ew, de, n, i0, frame, offset_blk, read_noise_e, full_well_e, dn_per_e, max_dn, shot,
                 clip_full_well, quantize, key_shot, key_read, sub_dn, oblk, f, g, seg):
    """Pixels i0..i0+n-1 of one frame (global index ``frame``) from their split field (sr, si) and
    constant field (cr, ci): the power as :func:`intensity_numba` computes it, then the camera
    stage by stage (the chains other than shot + read noise, which the kernels fuse)."""
    lamv = f[_F_LAM]
    for j in range(n):
        lamv[j] = np.float64(_field_power(alpha, scale, sr[j], si[j], cr[j], ci[j])) * ew[j] + de[j]
    _camera_task(lamv, n, i0, frame, offset_blk, read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize,
                 key_shot, key_read, sub_dn, oblk, f, g, seg)


@njit(cache=True, parallel=True, error_model="numpy")
def camera_noiseless_numba(power_w, e_per_w, dark_e, offset_dn, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, out):
    """:func:`camera_numba` without shot and read noise (the deterministic stages only).

    A branch-free inner loop the compiler vectorises; same numbers as
    ``camera_numpy(..., read_noise_e=0, shot=False)``.
    """
    n_frames, n_pix = power_w.shape
    for b in prange(n_frames):
        pw = power_w[b]
        o = out[b]
        for i in range(n_pix):
            e = np.float64(pw[i]) * e_per_w[i] + dark_e[i]
            if clip_full_well:
                e = min(e, full_well_e)
            dn = e * dn_per_e + offset_dn[i]
            if quantize:
                dn = min(max(np.floor(dn + 0.5), 0.0), max_dn)
            o[i] = dn
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def camera_field_noiseless_numba(split, alpha, c_re, c_im, scale, e_per_w, dark_e, offset_dn, full_well_e, dn_per_e, max_dn,
                                 clip_full_well, quantize, sub_dn, out):
    """:func:`intensity_numba` and :func:`camera_noiseless_numba` fused (see :func:`camera_field_numba`)."""
    n_frames = split.shape[0]
    n_pix = out.shape[1]
    for b in prange(n_frames):
        sr = split[b, :n_pix]
        si = split[b, n_pix:]
        o = out[b]
        for i in range(n_pix):
            e = np.float64(_field_power(alpha, scale, sr[i], si[i], c_re[i], c_im[i])) * e_per_w[i] + dark_e[i]
            if clip_full_well:
                e = min(e, full_well_e)
            dn = e * dn_per_e + offset_dn[i]
            if quantize:
                dn = min(max(np.floor(dn + 0.5), 0.0), max_dn)
            if sub_dn is None:
                o[i] = dn
            else:
                o[i] = np.float32(dn) - np.float32(sub_dn)
    return out


def camera_numpy(
    power_w,
    e_per_w,
    dark_e,
    offset_dn,
    read_noise_e,
    full_well_e,
    dn_per_e,
    max_dn,
    shot,
    clip_full_well,
    quantize,
    key_shot,
    key_read,
    frame0,
):
    """Numpy twin of :func:`camera_numba` (the same bits); returns float64 DN."""
    n_frames, n_pix = power_w.shape
    frames = np.arange(frame0, frame0 + n_frames, dtype=np.uint64)
    pix = np.arange(n_pix, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):  # an infinite mean is a valid (saturating) input
        mean_e = np.asarray(power_w).astype(np.float64) * e_per_w[None, :] + dark_e[None, :]
    if shot:
        e = poisson_numpy(major_keys_numpy(int(key_shot), frames)[:, None], pix, mean_e)
    else:
        e = mean_e
    if clip_full_well:
        e = np.minimum(e, full_well_e)
    if read_noise_e > 0.0:
        e = e + read_noise_e * normal_exact_numpy(major_keys_numpy(int(key_read), frames)[:, None], pix)
    dn = e * dn_per_e + np.asarray(offset_dn, dtype=np.float64)[None, :]
    if quantize:
        dn = np.minimum(np.maximum(np.floor(dn + 0.5), 0.0), max_dn)
    return dn


def camera_field_numpy(split, alpha, c_re, c_im, scale, e_per_w, dark_e, offset_dn, read_noise_e, full_well_e, dn_per_e, max_dn,
                       shot, clip_full_well, quantize, key_shot, key_read, frame0, sub_dn):
    """Numpy twin of :func:`camera_field_numba` and :func:`camera_field_noiseless_numba`; float32 output
    ``float32(DN) - float32(sub_dn)`` (float64 DN when ``sub_dn`` is None)."""
    power = intensity_numpy(split, alpha, c_re, c_im, scale)
    dn = camera_numpy(power, e_per_w, dark_e, offset_dn, read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well,
                      quantize, key_shot, key_read, frame0)
    if sub_dn is None:
        return dn
    return dn.astype(np.float32) - np.float32(sub_dn)


def camera_field_difference_numpy(split, alpha, on_re, on_im, off_re, off_im, scale, e_per_w, dark_e, offset_dn, read_noise_e,
                                  full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize, key_shot, key_read, frame_on0,
                                  frame_off0, level, norm):
    """Numpy twin of :func:`camera_field_difference_numba` (float32 ((on - off) - level) / norm)."""
    cam = (e_per_w, dark_e, offset_dn, read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize, key_shot, key_read)
    on = camera_field_numpy(split, alpha, on_re, on_im, scale, *cam, frame_on0, 0.0)
    off = camera_field_numpy(split, alpha, off_re, off_im, scale, *cam, frame_off0, 0.0)
    return ((on - off) - np.asarray(level, dtype=np.float32)) / np.asarray(norm, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# serial variants for small work
# --------------------------------------------------------------------------------------------
#: Below this many output elements a kernel runs its serial variant: launching a parallel
#: region costs more than the work (same code, ``prange`` acting as ``range``: same numbers).
SERIAL_BELOW = 1 << 16


def njit_variant(py_func, name: str, **options):
    """``njit(cache=True, **options)`` of ``py_func`` compiled under its own qualified name ``name``.

    Numba's on-disk cache finds a compiled function by module, qualified name and first line,
    and tells signatures apart, but not compile flags: two dispatchers of one Python function
    (a ``parallel=True`` kernel and its serial variant) share one cache entry, and whichever
    compiled first is loaded for both, so the "parallel" kernel can silently run serial code
    (or the serial one pay a thread launch). A copy of the function with a distinct qualified
    name gets its own entry.
    """
    f = pytypes.FunctionType(py_func.__code__, py_func.__globals__, name, py_func.__defaults__, py_func.__closure__)
    f.__qualname__ = name
    f.__doc__ = py_func.__doc__
    f.__module__ = py_func.__module__
    return njit(cache=True, **options)(f)


camera_serial = njit_variant(camera_numba.py_func, "camera_serial", error_model="numpy")
camera_noiseless_serial = njit_variant(camera_noiseless_numba.py_func, "camera_noiseless_serial", error_model="numpy")
camera_field_serial = njit_variant(camera_field_numba.py_func, "camera_field_serial", error_model="numpy")
camera_field_difference_serial = njit_variant(camera_field_difference_numba.py_func, "camera_field_difference_serial",
                                              error_model="numpy")
camera_field_noiseless_serial = njit_variant(camera_field_noiseless_numba.py_func, "camera_field_noiseless_serial", error_model="numpy")
intensity_serial = njit_variant(intensity_numba.py_func, "intensity_serial")
