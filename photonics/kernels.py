"""Numba kernels of the hot paths, each with a plain-numpy reference twin.

Counter-based randomness
------------------------
Every random number in the hot paths is a pure function of ``(key, major, minor)``:

    k_major = mix64(key XOR (major * G2))          (one per row / frame)
    u64     = mix64(k_major + minor * G1)          (one per draw)

with ``mix64`` the SplitMix64 finalizer (a bijection of 64-bit words with full avalanche) and
G1, G2 odd Weyl constants. Because a draw depends on nothing but its coordinates, the result
of a projection or of a camera read-out is the same whatever the block order, chunk size,
thread count or process count. Keys come from :func:`photonics.rng.stream_key`.

Normal variates use a 256-layer ziggurat (Marsaglia & Tsang 2000) driven by those words;
Poisson variates use inversion for small means and the transformed-rejection method PTRS
(Hoermann 1993) above; a Gaussian approximation is used only for means above
``POISSON_GAUSSIAN_ABOVE`` electrons, where the Poisson law is Gaussian to better than 1e-3
in skewness and where exact samplers would lose precision.

Twins
-----
``name_numba`` functions are the fast paths (``@njit(cache=True)``, parallel where it helps);
``name_numpy`` functions compute the same values with vectorised numpy, in the same order of
operations, and are what the tests compare against. Integer paths are bit-identical;
transcendental functions (exp, log, lgamma) may differ by an ulp between libm and numpy,
which can flip an accept/reject decision with a probability of order 1e-15 per draw.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

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
    "camera_numba",
    "camera_noiseless_numba",
    "camera_numpy",
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
#: Mean (electrons) above which shot noise uses the Gaussian approximation.
POISSON_GAUSSIAN_ABOVE = 1.0e7
_POISSON_INVERSION_BELOW = 10.0


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


@njit(cache=True, parallel=True)
def intensity_numba(split, alpha, c_re, c_im, scale, out):
    """``out[b, i] = scale * ((alpha*split[b, i] + c_re[i])^2 + (alpha*split[b, n+i] + c_im[i])^2)``.

    ``split`` is (batch, 2n) float32 holding [Re | Im] of a field, ``c`` a constant field
    (leaking mirrors, reference) added to every frame, ``scale`` converts |field|^2 to watts.
    """
    n = out.shape[1]
    for b in prange(out.shape[0]):
        for i in range(n):
            re = alpha * split[b, i] + c_re[i]
            im = alpha * split[b, n + i] + c_im[i]
            out[b, i] = scale * (re * re + im * im)
    return out


def intensity_numpy(split, alpha, c_re, c_im, scale):
    """Numpy twin of :func:`intensity_numba` (float32 arithmetic, same order)."""
    n = split.shape[1] // 2
    f32 = np.float32
    re = f32(alpha) * split[:, :n] + c_re
    im = f32(alpha) * split[:, n:] + c_im
    return (f32(scale) * (re * re + im * im)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Poisson and the camera read-out
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _poisson(kmajor, counter, lam):
    """Poisson(lam) variate using the draws of counter ``counter`` of row ``kmajor``."""
    if lam <= 0.0:
        return 0.0
    base = np.uint64(counter) * _DRAWS
    if lam < _POISSON_INVERSION_BELOW:
        u = _uniform(_word(kmajor, base))
        p = math.exp(-lam)
        s = p
        k = 0
        while u > s and k < 200:
            k += 1
            p *= lam / k
            s += p
        return np.float64(k)
    if lam >= POISSON_GAUSSIAN_ABOVE:
        z = _normal(kmajor, counter)
        v = math.floor(lam + math.sqrt(lam) * z + 0.5)
        return v if v > 0.0 else 0.0
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    d = np.uint64(0)
    k = math.floor(lam)
    while d < _DRAWS - _ONE:
        uu = _uniform(_word(kmajor, base + d)) - 0.5
        v = _uniform(_word(kmajor, base + d + _ONE))
        d += np.uint64(2)
        us = 0.5 - abs(uu)
        k = math.floor((2.0 * a / us + b) * uu + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= -lam + k * loglam - math.lgamma(k + 1.0):
            return k
    return k if k > 0.0 else 0.0


@njit(cache=True, parallel=True)
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
    offset non-uniformity) [DN].
    """
    n_frames, n_pix = power_w.shape
    block = 4096
    n_blocks = (n_pix + block - 1) // block
    for t in prange(n_frames * n_blocks):
        b = t // n_blocks
        i0 = (t % n_blocks) * block
        i1 = min(i0 + block, n_pix)
        frame = np.uint64(frame0 + b)
        ks = _major_key(np.uint64(key_shot), frame)
        kr = _major_key(np.uint64(key_read), frame)
        for i in range(i0, i1):
            mean_e = np.float64(power_w[b, i]) * e_per_w[i] + dark_e[i]
            if shot:
                e = _poisson(ks, i, mean_e)
            else:
                e = mean_e
            if clip_full_well and e > full_well_e:
                e = full_well_e
            if read_noise_e > 0.0:
                e += read_noise_e * _normal(kr, i)
            dn = e * dn_per_e + offset_dn[i]
            if quantize:
                dn = math.floor(dn + 0.5)
                if dn < 0.0:
                    dn = 0.0
                elif dn > max_dn:
                    dn = max_dn
            out[b, i] = dn
    return out


@njit(cache=True, parallel=True)
def poisson_numba(kmajor, counter, lam):
    """Poisson variates for aligned 1-D arrays of row keys, counters and means (float64)."""
    out = np.empty(lam.shape[0], dtype=np.float64)
    for i in prange(lam.shape[0]):
        out[i] = _poisson(kmajor[i], counter[i], lam[i])
    return out


@njit(cache=True, parallel=True)
def camera_noiseless_numba(power_w, e_per_w, dark_e, offset_dn, full_well_e, dn_per_e, max_dn, clip_full_well, quantize, out):
    """:func:`camera_numba` without shot and read noise (the deterministic stages only).

    A branch-free inner loop the compiler vectorises; same numbers as
    ``camera_numpy(..., read_noise_e=0, shot=False)``.
    """
    n_frames, n_pix = power_w.shape
    for b in prange(n_frames):
        for i in range(n_pix):
            e = np.float64(power_w[b, i]) * e_per_w[i] + dark_e[i]
            if clip_full_well:
                e = min(e, full_well_e)
            dn = e * dn_per_e + offset_dn[i]
            if quantize:
                dn = min(max(math.floor(dn + 0.5), 0.0), max_dn)
            out[b, i] = dn
    return out


def poisson_numpy(kmajor: np.ndarray, counter: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Numpy twin of the numba Poisson sampler for aligned arrays of row keys, counters, means."""
    kmajor, counter, lam = np.broadcast_arrays(
        np.asarray(kmajor, dtype=np.uint64), np.asarray(counter, dtype=np.uint64), np.asarray(lam, dtype=np.float64)
    )
    shape = lam.shape
    kmajor, counter, lam = kmajor.ravel(), counter.ravel(), lam.ravel()
    out = np.zeros(lam.shape[0])
    base = counter * _DRAWS
    with np.errstate(over="ignore"):
        small = (lam > 0) & (lam < _POISSON_INVERSION_BELOW)
        if small.any():
            ii = np.flatnonzero(small)
            u = uniform_numpy(_word_numpy(kmajor[ii], base[ii]))
            lm = lam[ii]
            p = np.exp(-lm)
            s = p.copy()
            k = np.zeros(ii.size)
            active = u > s
            for step in range(1, 201):
                if not active.any():
                    break
                k[active] += 1
                p[active] *= lm[active] / step
                s[active] += p[active]
                active &= u > s
            out[ii] = k
        big = lam >= POISSON_GAUSSIAN_ABOVE
        if big.any():
            ii = np.flatnonzero(big)
            z = _normal_numpy_rows(kmajor[ii], counter[ii])
            v = np.floor(lam[ii] + np.sqrt(lam[ii]) * z + 0.5)
            out[ii] = np.maximum(v, 0.0)
        mid = (lam >= _POISSON_INVERSION_BELOW) & (lam < POISSON_GAUSSIAN_ABOVE)
        if mid.any():
            ii = np.flatnonzero(mid)
            lm = lam[ii]
            slam = np.sqrt(lm)
            loglam = np.log(lm)
            b = 0.931 + 2.53 * slam
            a = -0.059 + 0.02483 * b
            invalpha = 1.1239 + 1.1328 / (b - 3.4)
            vr = 0.9277 - 3.6224 / (b - 2.0)
            res = np.floor(lm)
            todo = np.arange(ii.size)
            d = np.uint64(0)
            while todo.size and d < _DRAWS - _ONE:
                g = ii[todo]
                uu = uniform_numpy(_word_numpy(kmajor[g], base[g] + d)) - 0.5
                v = uniform_numpy(_word_numpy(kmajor[g], base[g] + d + _ONE))
                d += np.uint64(2)
                us = 0.5 - np.abs(uu)
                kk = np.floor((2.0 * a[todo] / us + b[todo]) * uu + lm[todo] + 0.43)
                res[todo] = kk
                fast = (us >= 0.07) & (v <= vr[todo])
                skip = ~fast & ((kk < 0.0) | ((us < 0.013) & (v > us)))
                slow = ~fast & ~skip
                acc = fast.copy()
                if slow.any():
                    t = todo[slow]
                    with np.errstate(divide="ignore", invalid="ignore"):
                        lhs = np.log(v[slow]) + np.log(invalpha[t]) - np.log(a[t] / (us[slow] ** 2) + b[t])
                        from scipy.special import gammaln

                        rhs = -lm[t] + kk[slow] * loglam[t] - gammaln(kk[slow] + 1.0)
                    acc[np.flatnonzero(slow)[lhs <= rhs]] = True
                todo = todo[~acc]
            res[todo] = np.maximum(res[todo], 0.0)
            out[ii] = res
    return out.reshape(shape)


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
    """Numpy twin of :func:`camera_numba`; returns float64 DN."""
    n_frames, n_pix = power_w.shape
    frames = np.arange(frame0, frame0 + n_frames, dtype=np.uint64)
    pix = np.arange(n_pix, dtype=np.uint64)[None, :]
    mean_e = power_w.astype(np.float64) * e_per_w[None, :] + dark_e[None, :]
    if shot:
        e = poisson_numpy(major_keys_numpy(key_shot, frames)[:, None], pix, mean_e)
    else:
        e = mean_e
    if clip_full_well:
        e = np.minimum(e, full_well_e)
    if read_noise_e > 0.0:
        e = e + read_noise_e * _normal_numpy_rows(major_keys_numpy(key_read, frames)[:, None], pix)
    dn = e * dn_per_e + np.asarray(offset_dn, dtype=np.float64)[None, :]
    if quantize:
        dn = np.clip(np.floor(dn + 0.5), 0.0, max_dn)
    return dn


# --------------------------------------------------------------------------------------------
# serial variants for small work
# --------------------------------------------------------------------------------------------
#: Below this many output elements a kernel runs its serial variant: launching a parallel
#: region costs more than the work (same code, ``prange`` acting as ``range``: same numbers).
SERIAL_BELOW = 1 << 16

camera_serial = njit(cache=True)(camera_numba.py_func)
camera_noiseless_serial = njit(cache=True)(camera_noiseless_numba.py_func)
intensity_serial = njit(cache=True)(intensity_numba.py_func)
