"""Speckle and transmission-matrix plots: image, intensity histogram vs the exponential law,
eigenvalues vs Marchenko-Pastur, autocorrelation with the grain size, memory effect, and the
normalised eigenvalue distribution against every ensemble of :mod:`photonics.ensembles`.

Each function takes the result objects of :mod:`photonics.statistics` (or arrays), writes a PNG
atomically through :func:`photonics.plotting.save_figure` and returns its path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from photonics.plotting import new_figure, save_figure

__all__ = [
    "plot_speckle_image",
    "plot_intensity_histogram",
    "plot_singular_values",
    "plot_autocorrelation",
    "plot_memory_effect",
    "plot_ensembles",
]


def plot_speckle_image(image, path: str | os.PathLike, *, title: str = "speckle", unit: str = "I / <I>") -> Path:
    """One speckle image (rows, cols) with a colour bar."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        from photonics.errors import ShapeError

        raise ShapeError(f"image must be 2-D (rows, cols) (got shape {img.shape})")
    fig, ax = new_figure(figsize=(5.2, 4.4))
    im = ax.imshow(img, cmap="inferno", interpolation="nearest", origin="upper")
    ax.set_xlabel("camera column [px]")
    ax.set_ylabel("camera row [px]")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=unit)
    return save_figure(fig, path)


def plot_intensity_histogram(hist, path: str | os.PathLike, *, title: str = "intensity statistics") -> Path:
    """Histogram of I / <I> (an :class:`~photonics.statistics.IntensityHistogram`) and the law exp(-x), log scale."""
    edges = np.asarray(hist.edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = new_figure(figsize=(5.2, 4.0))
    ax.bar(centres, hist.density, width=np.diff(edges), color="#4c72b0", alpha=0.7, label=f"measured (n = {hist.n:,})")
    x = np.linspace(0, edges[-1], 400)
    ax.plot(x, np.exp(-x), "k-", lw=1.5, label="fully developed speckle: exp(-I/<I>)")
    ax.set_yscale("log")
    pos = np.asarray(hist.density)[np.asarray(hist.density) > 0]
    ax.set_ylim(max(pos.min() * 0.5, 1e-6) if pos.size else 1e-6, 1.5)
    ax.set_xlabel("I / <I>")
    ax.set_ylabel("probability density")
    ax.set_title(f"{title}\ncontrast {hist.contrast:.3f}, KS distance {hist.ks_statistic:.3g}")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_singular_values(sv, path: str | os.PathLike, *, bins: int = 50, title: str = "transmission matrix spectrum") -> Path:
    """Histogram of the unit-mean eigenvalues s^2 / (n sigma^2) with the Marchenko-Pastur density."""
    from photonics.statistics import marchenko_pastur_pdf

    ev = np.asarray(sv.eigenvalues)
    lo, hi = sv.support
    top = max(float(ev.max()), hi) * 1.05
    fig, ax = new_figure(figsize=(5.2, 4.0))
    ax.hist(ev, bins=bins, range=(0, top), density=True, color="#55a868", alpha=0.7, label=f"T ({sv.n_out} x {sv.n_in})")
    x = np.linspace(max(lo, 1e-9), hi, 600)
    ax.plot(x, marchenko_pastur_pdf(x, sv.ratio), "k-", lw=1.5, label=f"Marchenko-Pastur, q = {sv.ratio:.3g}")
    ax.set_xlabel("squared singular value / (n sigma^2)")
    ax.set_ylabel("density")
    ax.set_title(f"{title}\nKS distance {sv.ks_statistic:.3g}, effective rank {sv.effective_rank:.1f}")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_autocorrelation(ac, path: str | os.PathLike, grain=None, *, title: str = "intensity autocovariance") -> Path:
    """The 2-D normalised autocovariance and its profiles along x and y, with the half maximum."""
    fig, (a0, a1) = new_figure(1, 2, figsize=(9.5, 4.0))
    ly, lx = ac.max_lag_y, ac.max_lag_x
    im = a0.imshow(ac.acf, cmap="viridis", extent=(-lx - 0.5, lx + 0.5, ly + 0.5, -ly - 0.5), vmin=min(0.0, float(ac.acf.min())), vmax=1.0)
    a0.set_xlabel("lag x [px]")
    a0.set_ylabel("lag y [px]")
    a0.set_title(title)
    fig.colorbar(im, ax=a0)
    for axis, style in (("x", "o-"), ("y", "s--")):
        prof = ac.profile(axis)
        a1.plot(np.arange(prof.size), prof, style, ms=3, label=f"along {axis}")
    a1.axhline(0.5, color="grey", lw=0.8, ls=":")
    if grain is not None and np.isfinite(grain.grain_size_px):
        a1.axvline(grain.grain_size_px / 2, color="k", lw=0.8, ls=":", label=f"half width: grain {grain.grain_size_px:.2f} px")
    a1.set_xlabel("lag [px]")
    a1.set_ylabel("c(lag)")
    a1.set_ylim(min(-0.05, float(ac.acf.min())), 1.05)
    a1.legend(fontsize=8)
    return save_figure(fig, path)


def plot_memory_effect(angles_rad, measured, stderr, theory, path: str | os.PathLike, *, title: str = "optical memory effect") -> Path:
    """Tilt-compensated output correlation vs input tilt, measured (with error bars) and predicted."""
    ang = np.asarray(angles_rad, dtype=np.float64) * 1e3
    fig, ax = new_figure(figsize=(5.2, 4.0))
    ax.errorbar(ang, measured, yerr=stderr, fmt="o", ms=4, capsize=2, label="beam propagation")
    ax.plot(ang, theory, "k-", lw=1.2, label="Markov prediction")
    ax.set_xlabel("input tilt in the slab [mrad]")
    ax.set_ylabel("output correlation C")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_ensembles(x, verdict, path: str | os.PathLike, *, title: str = "which ensemble?") -> Path:
    """Empirical CDF of the normalised eigenvalues x (sorted) with the fitted law of each ensemble.

    ``verdict`` is an :class:`~photonics.ensembles.EnsembleVerdict`; each law's KS distance and
    its z score against the Monte-Carlo null are in the legend.
    """
    from photonics import ensembles as E
    from photonics.statistics import marchenko_pastur_cdf

    x = np.sort(np.asarray(x, dtype=np.float64))
    fig, ax = new_figure(figsize=(5.6, 4.2))
    ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", color="k", lw=1.6, label=f"TM ({verdict.shape[0]} x {verdict.shape[1]}, rank {verdict.rank})")
    grid = np.linspace(0.0, max(float(x.max()) * 1.05, 1.5), 800)
    colours = {"iid-gaussian": "#4c72b0", "filtered-unitary": "#dd8452", "bimodal": "#55a868"}
    for f in verdict.fits:
        p = f.parameters
        if f.ensemble == "iid-gaussian":
            y = marchenko_pastur_cdf(grid, p["q"])
            name = f"Marchenko-Pastur q={p['q']:.3g}"
        elif f.ensemble == "filtered-unitary":
            y = E.filtered_unitary_cdf(grid * p["beta"], p["alpha"], p["beta"])
            name = f"filtered unitary M/N={p['alpha']:.3g}"
        else:
            y = E.bimodal_cdf(grid * p["mean_transmission"], p["t_min"])
            name = f"bimodal <T>={p['mean_transmission']:.3g}"
        ax.plot(grid, y, "-", color=colours.get(f.ensemble, "grey"), lw=1.2,
                label=f"{name}: D={f.ks_distance:.3f}" + (f", z={f.z:.1f} ({'fits' if f.fits else 'rejected'})" if f.tested else ""))
    ax.set_xlabel("eigenvalue of T^H T / mean")
    ax.set_ylabel("cumulative fraction")
    ax.set_title(f"{title}\nverdict: {verdict.verdict}")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
