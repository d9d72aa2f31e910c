"""Numba kernel of the phase-retrieval inner loop, with its plain-numpy reference twin.

The Gerchberg-Saxton step keeps the direction of the current predicted field and imposes the
measured amplitude. Fields are stored *lifted*: K real components per (probe, row), laid
out as P[k, j*K:(j+1)*K] (K = 2 is the complex field [Re, Im]; K > 2 is the over-parametrised
real lift used by :mod:`photonics.calibration.tm_retrieval`). For probe k and row j:

    |p|   = sqrt(sum_c P[k, jK + c]^2)
    a     = amp[k, j]                         measured amplitude sqrt(I)
    a     = max(a, |p|)        if saturated[k, j]   (a clipped pixel only bounds I from below)
    P[k, jK + c] *= a / |p|                   (|p| = 0: the field is set to (a, 0, ..., 0))
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["amplitude_projection_numba", "amplitude_projection_numpy"]


@njit(cache=True)
def amplitude_projection_numba(p, amp, saturated, k_lift):
    """In-place amplitude projection of lifted fields p (m, r*k_lift) float32; see module doc.

    Serial on purpose: one memory-bound pass next to two GEMMs per iteration, called
    hundreds of times on small arrays, where thread start-up (and contention with BLAS
    threads) costs more than it saves.
    """
    m, r = amp.shape
    for k in range(m):
        for j in range(r):
            base = j * k_lift
            s = 0.0
            for c in range(k_lift):
                v = np.float64(p[k, base + c])
                s += v * v
            norm = math.sqrt(s)
            a = np.float64(amp[k, j])
            if saturated[k, j] and norm > a:
                a = norm
            if norm > 0.0:
                f = a / norm
                for c in range(k_lift):
                    p[k, base + c] = np.float32(np.float64(p[k, base + c]) * f)
            else:
                p[k, base] = np.float32(a)
                for c in range(1, k_lift):
                    p[k, base + c] = np.float32(0.0)
    return p


def amplitude_projection_numpy(p: np.ndarray, amp: np.ndarray, saturated: np.ndarray, k_lift: int) -> np.ndarray:
    """Reference twin of :func:`amplitude_projection_numba` (returns a new array)."""
    m, r = amp.shape
    q = p.reshape(m, r, k_lift).astype(np.float64)
    norm = np.sqrt(np.sum(q * q, axis=2))
    a = amp.astype(np.float64)
    a = np.where(saturated.astype(bool) & (norm > a), norm, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(norm > 0, a / norm, 0.0)
    out = q * f[:, :, None]
    zero = norm == 0
    out[zero, 0] = a[zero]
    out[zero, 1:] = 0.0
    return out.reshape(m, r * k_lift).astype(np.float32)
