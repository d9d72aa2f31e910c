"""The counter-based generator and the camera chain ported to PyTorch (CPU or CUDA).

Twins of :mod:`photonics.kernels` on int64 tensors: two's-complement wrap-around of int64
multiplication equals uint64 arithmetic, and logical right shifts are masked arithmetic
shifts, so the SplitMix64 words, the 256-layer ziggurat normals, the Poisson variates
(inversion / PTRS), the procedural TM blocks and the camera read-out are the same numbers as
numpy's for the same keys and counters. torch is imported inside the functions. The device
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


def poisson_torch(kmajor, counter, lam):
    """Poisson variates (float64) for aligned int64 row keys, int64 counters and float64 means.

    Twin of :func:`photonics.kernels.poisson_numpy`: inversion below a mean of 10, PTRS
    (Hoermann 1993) up to 1e7, rounded Gaussian above.
    """
    torch = _torch()
    kmajor, counter, lam = torch.broadcast_tensors(kmajor, counter, lam)
    shape = lam.shape
    km = kmajor.reshape(-1)
    cnt = counter.reshape(-1)
    lam = lam.reshape(-1).to(torch.float64)
    dev = lam.device
    out = torch.zeros(lam.shape[0], dtype=torch.float64, device=dev)
    base = cnt * _DRAWS
    small = (lam > 0) & (lam < _INV_BELOW)
    if bool(small.any()):
        ii = torch.nonzero(small).reshape(-1)
        u = _uniform(_word(km[ii], base[ii]))
        lm = lam[ii]
        p = torch.exp(-lm)
        s = p.clone()
        k = torch.zeros_like(lm)
        active = u > s
        for step in range(1, 201):
            if not bool(active.any()):
                break
            k = torch.where(active, k + 1, k)
            p = torch.where(active, p * (lm / step), p)
            s = torch.where(active, s + p, s)
            active = active & (u > s)
        out[ii] = k
    big = lam >= _GAUSS_ABOVE
    if bool(big.any()):
        ii = torch.nonzero(big).reshape(-1)
        z = normal_torch(km[ii], cnt[ii])
        v = torch.floor(lam[ii] + torch.sqrt(lam[ii]) * z + 0.5)
        out[ii] = torch.clamp(v, min=0.0)
    mid = (lam >= _INV_BELOW) & (lam < _GAUSS_ABOVE)
    if bool(mid.any()):
        ii = torch.nonzero(mid).reshape(-1)
        lm = lam[ii]
        slam = torch.sqrt(lm)
        loglam = torch.log(lm)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        invalpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2.0)
        res = torch.floor(lm)
        todo = torch.arange(ii.numel(), device=dev)
        d = 0
        while todo.numel() and d < _DRAWS - 1:
            g = ii[todo]
            uu = _uniform(_word(km[g], base[g] + d)) - 0.5
            v = _uniform(_word(km[g], base[g] + d + 1))
            d += 2
            us = 0.5 - torch.abs(uu)
            kk = torch.floor((2.0 * a[todo] / us + b[todo]) * uu + lm[todo] + 0.43)
            res[todo] = kk
            fast = (us >= 0.07) & (v <= vr[todo])
            skip = ~fast & ((kk < 0.0) | ((us < 0.013) & (v > us)))
            slow = ~fast & ~skip
            acc = fast.clone()
            if bool(slow.any()):
                t = todo[slow]
                lhs = torch.log(v[slow]) + torch.log(invalpha[t]) - torch.log(a[t] / (us[slow] ** 2) + b[t])
                rhs = -lm[t] + kk[slow] * loglam[t] - torch.lgamma(kk[slow] + 1.0)
                acc[torch.nonzero(slow).reshape(-1)[lhs <= rhs]] = True
            todo = todo[~acc]
        res[todo] = torch.clamp(res[todo], min=0.0)
        out[ii] = res
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
        e = e + read_noise_e * normal_torch(major_keys_torch(key_read, frames)[:, None], pix)
    dn = e * dn_per_e + offset_dn[None, :]
    if quantize:
        dn = torch.clamp(torch.floor(dn + 0.5), 0.0, float(max_dn))
    return dn
