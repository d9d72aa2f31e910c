"""Plots of calibration results (PNG, matplotlib imported lazily through new_figure).

Each function takes a result from :mod:`photonics.calibration` and a path, writes the PNG
atomically and returns the path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from . import new_figure, save_figure

__all__ = [
    "image_shape",
    "plot_photon_transfer",
    "plot_snr",
    "plot_maps",
    "plot_tm_quality",
    "plot_drift",
    "plot_reference",
]


def image_shape(n_pixels: int, shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """A 2-D layout for ``n_pixels`` camera pixels: ``shape`` if it fits, else the most square
    factorisation (rows <= cols); a prime count gives a single row."""
    if shape is not None and int(shape[0]) * int(shape[1]) == n_pixels:
        return int(shape[0]), int(shape[1])
    r = int(math.isqrt(n_pixels))
    while r > 1 and n_pixels % r:
        r -= 1
    return r, n_pixels // r


def plot_photon_transfer(ptc, path: str | os.PathLike) -> Path:
    """Photon transfer curve with the gain fit (see :func:`photonics.plotting.emva1288_plots.plot_photon_transfer`)."""
    from .emva1288_plots import plot_photon_transfer as plot

    return plot(ptc, path)


def plot_snr(ptc, path: str | os.PathLike) -> Path:
    """SNR against signal in electrons (see :func:`photonics.plotting.emva1288_plots.plot_snr`)."""
    from .emva1288_plots import plot_snr as plot

    return plot(ptc, path)


def plot_maps(maps, path: str | os.PathLike, shape: tuple[int, int] | None = None) -> Path:
    """DSNU (dark) and PRNU (gain) maps as images, with their histograms."""
    n = maps.dark_map_dn.shape[0]
    rs, cs = image_shape(n, shape if shape is not None else getattr(maps, "image_shape", None))
    fig, axes = new_figure(2, 2, figsize=(9.0, 7.0))
    if maps.dsnu_map_e is not None:
        d, dunit, dval = maps.dsnu_map_e, "e-", maps.dsnu_e
    else:
        d, dunit, dval = maps.dark_map_dn - maps.dark_map_dn.mean(), "DN", maps.dsnu_dn
    im = axes[0, 0].imshow(d.reshape(rs, cs), cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=axes[0, 0], label=f"dark level - mean [{dunit}]")
    axes[0, 0].set_title(f"DSNU map ({dval.value:.3g} {dunit} rms)")
    pr = 100.0 * maps.prnu_map
    im = axes[0, 1].imshow(pr.reshape(rs, cs), cmap="magma", aspect="auto")
    fig.colorbar(im, ax=axes[0, 1], label="relative gain - 1 [%]")
    axes[0, 1].set_title(f"PRNU map ({100 * maps.prnu.value:.3g} % rms)")
    axes[1, 0].hist(d, bins=60, color="C0")
    axes[1, 0].set_xlabel(f"dark level - mean [{dunit}]")
    axes[1, 1].hist(pr, bins=60, color="C1")
    axes[1, 1].set_xlabel("relative gain - 1 [%]")
    for a in axes[1]:
        a.set_ylabel("pixels")
    return save_figure(fig, path)


def plot_tm_quality(tm, path: str | os.PathLike, quality: np.ndarray | None = None) -> Path:
    """Histogram of the TM row quality: ground truth (if given), bootstrap estimate, held-out R^2."""
    fig, axes = new_figure(1, 2, figsize=(10.0, 4.0))
    ax = axes[0]
    est = tm.row_correlation_estimate[np.isfinite(tm.row_correlation_estimate)]
    lo = 1.0
    if quality is not None and quality.size:
        lo = min(lo, float(np.min(quality)))
    if est.size:
        lo = min(lo, float(np.min(est)))
    bins = np.linspace(max(0.0, lo - 1e-4), 1.0, 40)
    if quality is not None:
        ax.hist(quality, bins=bins, color="C0", alpha=0.7, label=f"vs ground truth (median {np.median(quality):.4f})")
    if est.size:
        ax.hist(est, bins=bins, color="C1", alpha=0.7, label=f"bootstrap estimate (median {np.median(est):.4f})")
    ax.set_xlabel("|<t_est, t>| / (|t_est| |t|)  (up to phase and conjugation)")
    ax.set_ylabel("rows")
    ax.set_title(f"TM rows from {tm.n_probes} intensity probes ({tm.n_probes / tm.t_est.shape[1]:.3g} n_in)")
    ax.legend(fontsize=8)
    r2 = tm.r2_heldout[np.isfinite(tm.r2_heldout)]
    ce = tm.r2_noise_ceiling[np.isfinite(tm.r2_noise_ceiling)]
    if r2.size:
        b = np.linspace(min(r2.min(), ce.min() if ce.size else 1.0), 1.0, 40)
        axes[1].hist(r2, bins=b, color="C2", alpha=0.7, label=f"R^2 held-out (median {np.median(r2):.4f})")
        if ce.size:
            axes[1].hist(ce, bins=b, color="0.5", alpha=0.5, label=f"noise ceiling (median {np.median(ce):.4f})")
    axes[1].set_xlabel("R^2 on held-out probes")
    axes[1].set_ylabel("rows")
    axes[1].legend(fontsize=8)
    return save_figure(fig, path)


def plot_drift(drift, path: str | os.PathLike) -> Path:
    """Speckle correlation against device time with the exp(-2 t / tau) fit."""
    fig, ax = new_figure(figsize=(6.4, 4.4))
    t = drift.times_s
    ax.errorbar(t, drift.correlation, yerr=drift.correlation_se, fmt="o", ms=4, color="C0", label="measured (noise-normalised)")
    tau = drift.decorrelation_time_s
    if np.isfinite(tau.value) and not tau.lower_bound and t.size:
        x = np.linspace(0, t.max(), 200)
        ax.plot(x, np.exp(-2 * x / tau.value), "C1-", label=f"exp(-2t/tau), tau = {tau.value:.3g} +/- {tau.uncertainty:.2g} s")
        ax.axvline(drift.recalibration_interval_s, color="C3", ls="--", label=f"recalibrate every {drift.recalibration_interval_s:.3g} s")
    else:
        ax.set_title(f"no decorrelation seen: tau >= {tau.value:.3g} s")
    ax.set_xlabel("device time since the reference frames [s]")
    ax.set_ylabel("intensity correlation")
    ax.set_ylim(-0.05, 1.1)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_reference(ref, path: str | os.PathLike, choice=None) -> Path:
    """Reference level |u|^2 per pixel (histogram) and, if given, the reference-strength scan."""
    fig, axes = new_figure(1, 2, figsize=(10.0, 4.0))
    axes[0].hist(ref.z_dn, bins=60, color="C0")
    axes[0].axvline(ref.reference_level_median_dn.value, color="C1", ls="--", label="median")
    axes[0].set_xlabel("|u|^2 = Z = <I(r)> - <I(0)> [DN]")
    axes[0].set_ylabel("pixels")
    axes[0].set_title(f"reference: {ref.n_reference_modes} modes, |u|^2 / <|Tx|^2> = {ref.reference_to_signal.value:.3g}")
    axes[0].legend(fontsize=8)
    ax = axes[1]
    if choice is not None:
        ax.loglog(choice.fractions, choice.relative_error_exact, "o-", color="C0", label="exact (estimated)")
        ax.loglog(choice.fractions, choice.relative_error_strong, "s-", color="C1", label="strong-reference (estimated)")
        if choice.true_relative_error_exact is not None:
            ax.loglog(choice.fractions, choice.true_relative_error_exact, "o:", color="C0", mfc="none", label="exact (truth)")
            ax.loglog(choice.fractions, choice.true_relative_error_strong, "s:", color="C1", mfc="none", label="strong-reference (truth)")
        ax.axvline(choice.chosen_fraction, color="C3", ls="--", label=f"chosen {choice.chosen_fraction:g}")
        from matplotlib.ticker import FixedLocator, NullLocator

        ax.xaxis.set_major_locator(FixedLocator(list(choice.fractions)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{f:g}" for f in choice.fractions])
        ax.set_xlabel("reference modes / n_in")
        ax.set_ylabel("relative projection error")
    else:
        names = ["exact", "strong-ref."]
        vals = [ref.relative_error_exact.value, ref.relative_error_strong.value]
        ax.bar(names, vals, yerr=[ref.relative_error_exact.uncertainty, ref.relative_error_strong.uncertainty], color=["C0", "C1"])
        ax.set_ylabel("relative projection error")
    ax.legend(fontsize=8) if choice is not None else None
    return save_figure(fig, path)
