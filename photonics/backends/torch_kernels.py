"""The counter-based generator and the camera chain ported to PyTorch (CPU or CUDA).

Twins of :mod:`photonics.kernels` on int64 tensors: two's-complement wrap-around of int64
multiplication equals uint64 arithmetic, and logical right shifts are masked arithmetic
shifts, so the SplitMix64 words, the 256-layer ziggurat normals, the Poisson variates
(inversion / PTRS / rounded Gaussian above 1e8 e-), the procedural TM blocks and the camera
read-out are the same numbers as numpy's for the same keys and counters. The camera's
samplers take every decision with +, -, *, /, sqrt, floor and bit moves (``log_torch`` and
``exp_torch`` are the kernels' bit-exact ln and exp), so their values are bit-identical to
numba's and numpy's, not merely close. torch is imported inside the functions. The device
of every result is the device of the inputs (or the ``device`` argument).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import kernels as K

log = logging.getLogger(__name__)

__all__ = [
    "mix64_torch",
    "major_keys_torch",
    "normal_torch",
    "poisson_torch",
    "normal_exact_torch",
    "log_torch",
    "exp_torch",
    "gaussian_block_torch",
    "camera_torch",
    "intensity_torch",
]


def _torch():
    import torch

    return torch


def _s64(v: int) -> int:
    """A uint64 value as the int64 with the same bits."""
    v = int(v) & 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= (1 << 63) else v


_M1 = _s64(int(K._M1))
_M2 = _s64(int(K._M2))
_G1 = _s64(int(K._G1))
_G2 = _s64(int(K._G2))
_DRAWS = int(K.DRAWS_PER_VARIATE)
_TWO53_INV = K._TWO53_INV
_ZR = float(K._ZR)
_INV_BELOW = float(K._POISSON_INVERSION_BELOW)
_GAUSS_ABOVE = float(K.POISSON_GAUSSIAN_ABOVE)
_MANT = _s64(int(K._MANT))
_EXP_ONE = _s64(int(K._EXP_ONE))
_G3 = _s64(int(K._G3))


def _srl(z, s: int):
    """Logical right shift of int64 tensors holding uint64 bits."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix64_torch(z):
    """SplitMix64 finalizer on an int64 tensor holding uint64 bits (twin of ``kernels._mix64``)."""
    z = (z ^ _srl(z, 30)) * _M1
    z = (z ^ _srl(z, 27)) * _M2
    return z ^ _srl(z, 31)


def major_keys_torch(key: int, majors):
    """Row / frame keys ``mix64(key XOR major*G2)`` for an int64 tensor of majors."""
    return mix64_torch(majors * _G2 ^ _s64(key))


def _word(kmajor, minor):
    return mix64_torch(kmajor + minor * _G1)


def _uniform(w):
    torch = _torch()
    return (_srl(w, 11).to(torch.float64) + 0.5) * _TWO53_INV


class _Tables:
    """Ziggurat tables as tensors on one device (cached per device)."""

    _cache: dict = {}
    _pcache: dict = {}

    @classmethod
    def poisson(cls, device):
        """(ln k!, ln(k + 1)) for k < 256 as float64 tensors on ``device``."""
        torch = _torch()
        key = str(device)
        if key not in cls._pcache:
            cls._pcache[key] = (
                torch.as_tensor(K._LOGFACT, dtype=torch.float64, device=device),
                torch.as_tensor(K._LOGX, dtype=torch.float64, device=device),
            )
        return cls._pcache[key]

    @classmethod
    def get(cls, device):
        torch = _torch()
        key = str(device)
        if key not in cls._cache:
            cls._cache[key] = (
                torch.as_tensor(K._ZX, dtype=torch.float64, device=device),
                torch.as_tensor(K._ZF, dtype=torch.float64, device=device),
                torch.as_tensor(K._ZK.astype(np.int64), dtype=torch.int64, device=device),
            )
        return cls._cache[key]


def normal_torch(kmajor, counter):
    """Standard normals for aligned (broadcast) int64 tensors of row keys and counters.

    Twin of ``kernels._normal_numpy_rows``: variate ``counter`` of the stream row ``kmajor``,
    float64, same shape as the broadcast inputs.
    """
    torch = _torch()
    kmajor, counter = torch.broadcast_tensors(kmajor, counter)
    shape = kmajor.shape
    dev = kmajor.device
    zx, zf, zk = _Tables.get(dev)
    km = kmajor.reshape(-1)
    base = counter.reshape(-1) * _DRAWS
    n = km.numel()
    out = torch.zeros(n, dtype=torch.float64, device=dev)
    d = torch.zeros(n, dtype=torch.int64, device=dev)
    todo = torch.arange(n, device=dev)
    while todo.numel():
        todo = todo[d[todo] < _DRAWS - 3]
        if not todo.numel():
            break
        w = _word(km[todo], base[todo] + d[todo])
        d[todo] += 1
        idx = w & 0xFF
        neg = ((w >> 8) & 1).bool()
        mant = _srl(w, 11)
        x = mant.to(torch.float64) * _TWO53_INV * zx[idx]
        x = torch.where(neg, -x, x)
        out[todo] = x
        done = mant < zk[idx]
        rest = ~done
        tail = rest & (idx == 0)
        if bool(tail.any()):
            t_i = todo[tail]
            u1 = _uniform(_word(km[t_i], base[t_i] + d[t_i]))
            u2 = _uniform(_word(km[t_i], base[t_i] + d[t_i] + 1))
            d[t_i] += 2
            t = -torch.log(u1) / _ZR
            acc = -2.0 * torch.log(u2) > t * t
            val = torch.where(neg[tail], -(_ZR + t), _ZR + t)
            out[t_i[acc]] = val[acc]
            done[torch.nonzero(tail).reshape(-1)[acc]] = True
        wedge = rest & (idx != 0)
        if bool(wedge.any()):
            w_i = todo[wedge]
            u = _uniform(_word(km[w_i], base[w_i] + d[w_i]))
            d[w_i] += 1
            iw = idx[wedge]
            y = zf[iw] + u * (zf[iw + 1] - zf[iw])
            xw = x[wedge]
            acc = y < torch.exp(-0.5 * xw * xw)
            done[torch.nonzero(wedge).reshape(-1)[acc]] = True
        todo = todo[~done]
    return out.reshape(shape)


def _word_ext(kmajor, base, d):
    """Word ``d`` (an int or a tensor, any d >= 0) of the variates whose first word is at ``base``
    (twin of ``kernels._word_ext``)."""
    if isinstance(d, int):
        if d < 16:
            return _word(kmajor, base + d)
        return _word(mix64_torch(kmajor ^ _s64((d >> 4) * int(K._G3))), base + (d & 15))
    out = _word(kmajor, base + d)
    hi = d >= 16
    if bool(hi.any()):
        dh = d[hi]
        out[hi] = _word(mix64_torch(kmajor[hi] ^ (_srl(dh, 4) * _G3)), base[hi] + (dh & 15))
    return out


def log_torch(x):
    """ln x for positive normal float64 tensors, bit-identical to ``kernels._log_pos`` / ``log_numpy``."""
    torch = _torch()
    bits = x.contiguous().view(torch.int64)
    e = ((bits >> 52) - 1023).to(torch.float64)
    m = ((bits & _MANT) | _EXP_ONE).view(torch.float64)
    big = m > K._SQRT2
    m = torch.where(big, m * 0.5, m)
    e = torch.where(big, e + 1.0, e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    t = torch.full_like(z, K._LOG_COEF[-1])
    for c in K._LOG_COEF[-2::-1]:
        t = c + z * t
    r = z * t
    h = s + s
    return e * K._LN2_HI + (h + (h * r + e * K._LN2_LO))


def exp_torch(x):
    """e^x for float64 tensors in [-708, 0], bit-identical to ``kernels._exp_neg`` / ``exp_numpy``."""
    torch = _torch()
    n = torch.floor(x * K._INV_LN2 + 0.5)
    r = (x - n * K._LN2_HI) - n * K._LN2_LO
    t = torch.full_like(r, K._EXP_COEF[-1])
    for c in K._EXP_COEF[-2::-1]:
        t = c + r * t
    scale = ((n.to(torch.int64) + 1023) << 52).view(torch.float64)
    return t * scale


def normal_exact_torch(kmajor, counter):
    """The camera's standard normals (twin of :func:`photonics.kernels.normal_exact_numpy`, same bits).

    Aligned (broadcast) int64 tensors of row keys and counters; float64, same shape.
    """
    torch = _torch()
    kmajor, counter = torch.broadcast_tensors(kmajor, counter)
    shape = kmajor.shape
    dev = kmajor.device
    zx, zf, zk = _Tables.get(dev)
    km = kmajor.reshape(-1)
    base = counter.reshape(-1) * _DRAWS
    n = km.numel()
    out = torch.zeros(n, dtype=torch.float64, device=dev)
    d = torch.zeros(n, dtype=torch.int64, device=dev)
    todo = torch.arange(n, device=dev)
    while todo.numel():
        w = _word_ext(km[todo], base[todo], d[todo])
        d[todo] += 1
        idx = w & 0xFF
        neg = ((w >> 8) & 1).bool()
        mant = _srl(w, 11)
        x = mant.to(torch.float64) * _TWO53_INV * zx[idx]
        x = torch.where(neg, -x, x)
        out[todo] = x
        done = mant < zk[idx]
        rest = ~done
        tail = rest & (idx == 0)
        if bool(tail.any()):
            t_i = todo[tail]
            u1 = _uniform(_word_ext(km[t_i], base[t_i], d[t_i]))
            u2 = _uniform(_word_ext(km[t_i], base[t_i], d[t_i] + 1))
            d[t_i] += 2
            t = -log_torch(u1) / _ZR
            acc = -2.0 * log_torch(u2) > t * t
            val = torch.where(neg[tail], -(_ZR + t), _ZR + t)
            out[t_i[acc]] = val[acc]
            done[torch.nonzero(tail).reshape(-1)[acc]] = True
        wedge = rest & (idx != 0)
        if bool(wedge.any()):
            w_i = todo[wedge]
            u = _uniform(_word_ext(km[w_i], base[w_i], d[w_i]))
            d[w_i] += 1
            iw = idx[wedge]
            y = zf[iw] + u * (zf[iw + 1] - zf[iw])
            xw = x[wedge]
            acc = y < exp_torch(-0.5 * xw * xw)
            done[torch.nonzero(wedge).reshape(-1)[acc]] = True
        todo = todo[~done]
    return out.reshape(shape)


def _ptrs_accept(lam, a, b, slam, k, us, v, logfact, logx):
    torch = _torch()
    bm34 = b - 3.4
    kk = torch.clamp(k, min=0.0)
    big = kk >= 256.0
    us2 = us * us
    q = (v * us2 * (1.1239 * bm34 + 1.1328)) / ((a + b * us2) * bm34)
    lhs = log_torch(torch.where(big, q * slam, q))
    x = kk + 1.0
    ix = 1.0 / x
    lr = log_torch(lam * ix)
    ix2 = ix * ix
    ser = ix * (K._ST1 - ix2 * (K._ST2 - ix2 * K._ST3))
    rhs_big = (kk + 0.5) * lr + ((x - lam) - K._HALF_LOG_2PI - ser)
    ki = torch.clamp(kk, max=255.0).to(torch.int64)
    rhs_small = kk * lr + kk * logx[ki] - lam - logfact[ki]
    rhs = torch.where(big, rhs_big, rhs_small)
    return (lhs <= rhs) & (k >= 0.0) & ((us >= 0.013) | (v <= us))


def poisson_torch(kmajor, counter, lam):
    """Poisson variates (float64) for aligned int64 row keys, int64 counters and float64 means.

    Twin of :func:`photonics.kernels.poisson_numpy` (the same bits): inversion below a mean
    of 10, PTRS (Hoermann 1993) up to ``POISSON_GAUSSIAN_ABOVE``, rounded Gaussian above,
    ``inf`` for an infinite mean, 0 for a mean <= 0.
    """
    torch = _torch()
    kmajor, counter, lam = torch.broadcast_tensors(kmajor, counter, lam)
    shape = lam.shape
    km = kmajor.reshape(-1)
    cnt = counter.reshape(-1)
    lam = lam.reshape(-1).to(torch.float64)
    dev = lam.device
    logfact, logx = _Tables.poisson(dev)
    out = torch.zeros(lam.shape[0], dtype=torch.float64, device=dev)
    base = cnt * _DRAWS
    small = (lam > 0) & (lam < _INV_BELOW)
    if bool(small.any()):
        # inversion, four steps at a time on the lanes still running (an inactive lane's k no
        # longer changes, so the extra steps change nothing), then drop the finished lanes
        pos = torch.nonzero(small).reshape(-1)
        lm = lam[pos]
        u = _uniform(_word(km[pos], base[pos]))
        p = exp_torch(-lm)
        s = p.clone()
        k = torch.zeros_like(lm)
        j = 1
        while pos.numel():
            for _ in range(4):
                if j > K._INVERSION_MAX_STEPS:
                    break
                k = k + (u > s).to(torch.float64)
                p = (p * lm) * float(K._RINV[j])
                s = s + p
                j += 1
            live = (u > s) & (j <= K._INVERSION_MAX_STEPS)
            fin = ~live
            out[pos[fin]] = k[fin]
            pos, lm, u, p, s, k = pos[live], lm[live], u[live], p[live], s[live], k[live]
    mid = (lam >= _INV_BELOW) & (lam < _GAUSS_ABOVE)
    if bool(mid.any()):
        ii = torch.nonzero(mid).reshape(-1)
        lm = lam[ii]
        slam = torch.sqrt(lm)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        bm2 = b - 2.0
        res = torch.empty_like(lm)
        todo = torch.arange(ii.numel(), device=dev)
        d = 0
        while todo.numel():
            g = ii[todo]
            gl, ga, gb = lm[todo], a[todo], b[todo]
            uu = _uniform(_word_ext(km[g], base[g], d)) - 0.5
            v = _uniform(_word_ext(km[g], base[g], d + 1))
            d += 2
            us = 0.5 - torch.abs(uu)
            kk = torch.floor((2.0 * ga / us + gb) * uu + gl + 0.43)
            acc = (us >= 0.07) & (v * bm2[todo] <= 0.9277 * bm2[todo] - 3.6224)
            rest = torch.nonzero(~acc).reshape(-1)
            if rest.numel():  # the exact test only where the squeeze left the lane open
                t = todo[rest]
                acc[rest] = _ptrs_accept(lm[t], a[t], b[t], slam[t], kk[rest], us[rest], v[rest], logfact, logx)
            res[todo[acc]] = kk[acc]
            todo = todo[~acc]
        out[ii] = res
    big = lam >= _GAUSS_ABOVE
    if bool(big.any()):
        ii = torch.nonzero(big).reshape(-1)
        lb = lam[ii]
        z = normal_exact_torch(km[ii], cnt[ii])
        v = torch.clamp(torch.floor(lb + torch.sqrt(lb) * z + 0.5), min=0.0)
        out[ii] = torch.where(torch.isinf(lb), lb, v)
    return out.reshape(shape)


def gaussian_block_torch(key: int, row0: int, n_rows: int, col0: int, n_cols: int, sigma: float, device="cpu"):
    """Split layout (n_cols, 2 n_rows) float32 of a CN(0, 2 sigma^2) TM block, on ``device``.

    Twin of :func:`photonics.kernels.gaussian_block_numpy`: ``out[j, i] = Re T[row0+i, col0+j]``,
    ``out[j, n_rows+i] = Im T[row0+i, col0+j]``, same numbers.
    """
    torch = _torch()
    dev = torch.device(device)
    km = major_keys_torch(key, torch.arange(row0, row0 + n_rows, dtype=torch.int64, device=dev))
    c = torch.arange(col0, col0 + n_cols, dtype=torch.int64, device=dev) * 2
    out = torch.empty((n_cols, 2 * n_rows), dtype=torch.float32, device=dev)
    out[:, :n_rows] = (sigma * normal_torch(km[None, :], c[:, None])).to(torch.float32)
    out[:, n_rows:] = (sigma * normal_torch(km[None, :], c[:, None] + 1)).to(torch.float32)
    return out


def intensity_torch(split, alpha: float, c_re, c_im, scale: float):
    """``scale * ((alpha Re + c_re)^2 + (alpha Im + c_im)^2)`` in float32 (twin of ``intensity_numpy``)."""
    torch = _torch()
    n = split.shape[1] // 2
    a = torch.tensor(np.float32(alpha), dtype=torch.float32, device=split.device)
    s = torch.tensor(np.float32(scale), dtype=torch.float32, device=split.device)
    re = a * split[:, :n] + c_re
    im = a * split[:, n:] + c_im
    return s * (re * re + im * im)


def camera_torch(power_w, e_per_w, dark_e, offset_dn, read_noise_e, full_well_e, dn_per_e, max_dn, shot, clip_full_well, quantize, key_shot, key_read, frame0):
    """Camera read-out in torch (twin of :func:`photonics.kernels.camera_numpy`); float64 DN.

    ``power_w`` (n_frames, n_pixels) [W]; ``e_per_w``, ``dark_e`` and ``offset_dn`` (n_pixels,)
    float64 tensors on the same device; frame b uses the noise of global frame ``frame0 + b``.
    """
    torch = _torch()
    dev = power_w.device
    n_frames, n_pix = power_w.shape
    frames = torch.arange(frame0, frame0 + n_frames, dtype=torch.int64, device=dev)
    pix = torch.arange(n_pix, dtype=torch.int64, device=dev)[None, :]
    mean_e = power_w.to(torch.float64) * e_per_w[None, :] + dark_e[None, :]
    if shot:
        e = poisson_torch(major_keys_torch(key_shot, frames)[:, None], pix, mean_e)
    else:
        e = mean_e
    if clip_full_well:
        e = torch.clamp(e, max=float(full_well_e))
    if read_noise_e > 0.0:
        e = e + read_noise_e * normal_exact_torch(major_keys_torch(key_read, frames)[:, None], pix)
    dn = e * dn_per_e + offset_dn[None, :]
    if quantize:
        dn = torch.clamp(torch.floor(dn + 0.5), 0.0, float(max_dn))
    return dn
