"""An independent sensor generator written from the EMVA 1288 Release 4.0 linear camera model.

Nothing here comes from ``photonics``: the model is the standard's, in plain numpy, with its
own random streams (``numpy.random.default_rng``) and its own ground truth::

    electrons  e  = min(Poisson(eta g_i mu_p + I_i t), full_well)          (shot noise, full well)
    digital    y  = clip(round(K (e + N(0, sigma_r^2)) + b + o_i), 0, 2^bits - 1)

with pixel maps g_i (relative gain, gamma, mean 1, sd prnu), I_i (dark current, gamma, mean
mu_I, sd sigma_I) and o_i (offset, normal, sd sigma_o; b the black level). Series in exposure
time (constant photon flux) or in irradiance (constant exposure), dark stacks, spatial stacks.

The truths: K, eta <g>, sigma_r, sigma_d(t) = sqrt(sigma_r^2 + <I> t), the dark current <I>,
DSNU(t) = sd(I_i t + o_i / K), PRNU = sd(g)/<g>, the clip level, and the EMVA saturation point
as the level of the largest *expected* temporal variance, computed here exactly from the
discrete distribution of the rounded, clipped reading (Gaussian electrons).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr


@dataclass
class Sensor:
    rows: int = 64
    cols: int = 64
    bits: int = 8
    gain_dn_per_e: float = 0.1
    qe: float = 0.6
    read_noise_e: float = 6.0
    dark_current_e_per_s: float = 2000.0
    dark_current_sd_e_per_s: float = 500.0
    black_level_dn: float = 20.0
    offset_sd_dn: float = 0.5
    prnu: float = 0.01
    full_well_e: float = 1e9
    seed: int = 0
    gain: np.ndarray = field(init=False)
    current: np.ndarray = field(init=False)
    offset: np.ndarray = field(init=False)

    def __post_init__(self):
        rng = np.random.default_rng([self.seed, 1])
        shape = (self.rows, self.cols)
        self.gain = rng.gamma(1 / self.prnu**2, self.prnu**2, shape) if self.prnu > 0 else np.ones(shape)
        if self.dark_current_sd_e_per_s > 0:
            k = (self.dark_current_e_per_s / self.dark_current_sd_e_per_s) ** 2
            self.current = rng.gamma(k, self.dark_current_e_per_s / k, shape)
        else:
            self.current = np.full(shape, float(self.dark_current_e_per_s))
        self.offset = rng.normal(0.0, self.offset_sd_dn, shape) if self.offset_sd_dn > 0 else np.zeros(shape)
        self._noise = np.random.default_rng([self.seed, 2])

    @property
    def max_dn(self) -> int:
        return 2**self.bits - 1

    def frames(self, photons: float, exposure_s: float, n: int) -> np.ndarray:
        """n frames (n, rows, cols) at mu_p = photons per pixel and exposure t."""
        rng = self._noise
        mu = self.qe * self.gain * photons + self.current * exposure_s
        e = np.minimum(rng.poisson(np.broadcast_to(mu, (n,) + mu.shape)), self.full_well_e).astype(np.float64)
        y = np.round(self.gain_dn_per_e * (e + rng.normal(0.0, self.read_noise_e, e.shape)) + self.black_level_dn + self.offset)
        return np.clip(y, 0, self.max_dn).astype(np.uint8 if self.bits <= 8 else np.uint16)

    # ---- truths -------------------------------------------------------------------------------
    def dsnu_e(self, exposure_s: float) -> float:
        return float(np.std(self.current * exposure_s + self.offset / self.gain_dn_per_e, ddof=1))

    def prnu_realised(self) -> float:
        return float(np.std(self.gain, ddof=1) / np.mean(self.gain))

    def signal_e(self, photons) -> np.ndarray:
        return self.qe * float(np.mean(self.gain)) * np.asarray(photons, dtype=float)

    def expected_variance_dn2(self, photons: float, exposure_s: float) -> float:
        """Temporal variance of the reading averaged over pixels, from the discrete distribution of
        round(X) clipped to [0, max], X Gaussian with the electrons' mean and variance (the
        electrons clipped at the full well first)."""
        mu = (self.qe * self.gain * photons + self.current * exposure_s).ravel()
        s = np.sqrt(mu)
        # electrons clipped at the full well (Gaussian): mean and variance
        a = (self.full_well_e - mu) / np.maximum(s, 1e-12)
        big, small = ndtr(a), np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
        fw = self.full_well_e
        m1 = mu * big - s * small + fw * (1 - big)
        m2 = (mu * mu + s * s) * big - s * small * (mu + fw) + fw * fw * (1 - big)
        v_e = np.maximum(m2 - m1 * m1, 0.0)
        m = self.gain_dn_per_e * m1 + self.black_level_dn + self.offset.ravel()
        sd = self.gain_dn_per_e * np.sqrt(v_e + self.read_noise_e**2)
        if np.all(m + 10 * sd < self.max_dn) and np.all(m - 10 * sd > 0):
            return float(np.mean(sd * sd) + 1.0 / 12.0)  # no ADC clipping: rounding adds 1/12 DN^2
        near = (m + 10 * sd >= self.max_dn) | (m - 10 * sd <= 0)
        k = np.arange(min(max(0, int(np.floor((m - 10 * sd)[near].min()))), self.max_dn), self.max_dn + 1, dtype=float)
        if k[0] > 0:
            k = np.concatenate([[0.0], k])  # the lowest bin collects everything below
        rest = float(np.sum(sd[~near] ** 2 + 1.0 / 12.0))
        m, sd = m[near], sd[near]
        lo = ndtr((k[None, :] - 0.5 - m[:, None]) / sd[:, None])
        hi = ndtr((k[None, :] + 0.5 - m[:, None]) / sd[:, None])
        lo[:, 0] = 0.0
        hi[:, -1] = 1.0
        if k.size > 1 and k[1] - k[0] > 1:
            hi[:, 0] = ndtr((k[1] - 0.5 - m) / sd)  # bin 0 holds all of (-inf, k[1] - 0.5) when k jumps
        p = hi - lo
        mean = (p * k).sum(axis=1)
        var = (p * k * k).sum(axis=1) - mean**2
        return float((var.sum() + rest) / (var.size + (self.rows * self.cols - var.size)))


def irradiance_series(sensor: Sensor, *, exposure_s: float, sat_photons: float, n_levels: int = 50, frames: int = 8,
                      dark_exposures=None, dark_frames: int = 16, spatial_frames: int = 64, beyond=(1.5, 2.0, 3.0), top: float = 1.15):
    """Frames of an irradiance series: levels up to ``top`` x saturation plus ``beyond`` levels."""
    photons = np.concatenate([np.linspace(top * sat_photons / n_levels, top * sat_photons, n_levels), np.asarray(beyond) * sat_photons])
    bright = np.stack([sensor.frames(p, exposure_s, frames) for p in photons])
    td = np.unique(np.concatenate([np.asarray(dark_exposures if dark_exposures is not None else [exposure_s], float), [exposure_s]]))
    dark = np.stack([sensor.frames(0.0, t, dark_frames) for t in td])
    sp = 0.5 * sat_photons
    return dict(
        bright_frames=bright, bright_exposure_s=np.full(photons.size, exposure_s), photons=photons,
        dark_frames=dark, dark_exposure_s=td,
        spatial_bright=sensor.frames(sp, exposure_s, spatial_frames), spatial_dark=sensor.frames(0.0, exposure_s, spatial_frames),
        spatial_exposure_s=exposure_s, spatial_photons=sp, bit_depth=sensor.bits,
    )


def exposure_series(sensor: Sensor, *, photons_per_s: float, t_min: float, t_max: float, n_levels: int = 50, frames: int = 8,
                    spatial_frames: int = 64, spatial_exposure_s: float | None = None):
    """Frames of an exposure series at constant photon flux, with a dark stack at every exposure."""
    t = np.linspace(t_min, t_max, n_levels)
    bright = np.stack([sensor.frames(photons_per_s * tj, tj, frames) for tj in t])
    dark = np.stack([sensor.frames(0.0, tj, frames) for tj in t])
    ts = spatial_exposure_s if spatial_exposure_s is not None else 0.5 * (t_min + t_max)
    return dict(
        bright_frames=bright, bright_exposure_s=t, photons=photons_per_s * t, dark_frames=dark, dark_exposure_s=t,
        spatial_bright=sensor.frames(photons_per_s * ts, ts, spatial_frames), spatial_dark=sensor.frames(0.0, ts, spatial_frames),
        spatial_exposure_s=ts, spatial_photons=photons_per_s * ts, bit_depth=sensor.bits,
    )
