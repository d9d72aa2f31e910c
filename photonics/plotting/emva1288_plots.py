"""The plots of an EMVA 1288 datasheet (matplotlib through :func:`photonics.plotting.new_figure`).

Each ``plot_*`` function takes a result of :mod:`photonics.calibration` and either a path (the
PNG is written atomically and the path returned) or ``None`` (the PNG bytes are returned, for
embedding in the HTML datasheet). :data:`DATASHEET_PLOTS` lists them in datasheet order.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from . import new_figure, save_figure

__all__ = [
    "plot_photon_transfer",
    "plot_sensitivity",
    "plot_snr",
    "plot_linearity",
    "plot_dark_current",
    "plot_spectrograms",
    "plot_histograms",
    "plot_maps",
    "DATASHEET_PLOTS",
]


def _finish(fig, path):
    """Write ``fig`` to ``path`` (returns the path), or return its PNG bytes when path is None."""
    if path is not None:
        return save_figure(fig, path)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, dpi=100, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _x_axis(ptc):
    if ptc.photons is not None:
        return ptc.photons, "irradiation mu_p [photons/pixel]"
    if ptc.mode == "exposure":
        return ptc.level_exposure_s * 1e3, "exposure time [ms] (constant irradiance)"
    return ptc.illumination, "illumination [relative]"


def plot_photon_transfer(ptc, path: str | os.PathLike | None = None) -> Path | bytes:
    """Photon transfer: sigma_y^2 - sigma_y.dark^2 against mu_y - mu_y.dark, with the gain fit."""
    fig, ax = new_figure(figsize=(6.4, 4.4))
    sig = ptc.signal_dn
    var = ptc.temporal_var_dn2 - ptc.dark_level_var_dn2
    fit = np.asarray(ptc.used_in_fit, dtype=bool)
    ax.errorbar(sig[~fit], var[~fit], yerr=ptc.temporal_var_se_dn2[~fit], fmt="o", color="0.6", ms=3, label="not fitted")
    ax.errorbar(sig[fit], var[fit], yerr=ptc.temporal_var_se_dn2[fit], fmt="o", color="C0", ms=3, label="fitted (<= 70 % sat.)")
    k = ptc.system_gain_dn_per_e
    x = np.linspace(0, max(float(sig[fit].max()) * 1.1, 1e-12), 100)
    ax.plot(x, k.value * x, "C1-", label=f"K = {k.value:.4g} +/- {k.uncertainty:.2g} DN/e-")
    if ptc.saturation_dn is not None:
        ax.axvline(ptc.signal_dn[ptc.saturation_index], color="C3", ls="--", label="saturation (variance max.)")
    ax.set_xlabel("mu_y - mu_y.dark [DN]")
    ax.set_ylabel("sigma_y^2 - sigma_y.dark^2 [DN^2]")
    ax.set_title("Photon transfer")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_sensitivity(ptc, path: str | os.PathLike | None = None) -> Path | bytes:
    """Sensitivity: mean signal against the irradiation, with the responsivity fit."""
    fig, ax = new_figure(figsize=(6.4, 4.4))
    x, xl = _x_axis(ptc)
    fit = np.asarray(ptc.used_in_fit, dtype=bool)
    ax.plot(x, ptc.signal_dn, "o", color="C0", ms=3, label="measured")
    if ptc.responsivity_dn_per_photon is not None:
        r = ptc.responsivity_dn_per_photon.value
        xx = np.linspace(0, float(x[fit].max()) * 1.1, 100)
        ax.plot(xx, r * xx, "C1-", label=f"R = {r:.4g} DN/photon, QE = {ptc.quantum_efficiency.value:.4g}")
    if ptc.saturation_dn is not None:
        ax.axvline(x[ptc.saturation_index], color="C3", ls="--", label="saturation")
    ax.set_xlabel(xl)
    ax.set_ylabel("mu_y - mu_y.dark [DN]")
    ax.set_title("Sensitivity")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_snr(ptc, path: str | os.PathLike | None = None) -> Path | bytes:
    """SNR against the signal in electrons (log-log): measured, model, ideal shot-noise limit."""
    fig, ax = new_figure(figsize=(6.4, 4.4))
    mu = ptc.signal_e
    good = (mu > 0) & np.isfinite(ptc.snr) & (ptc.snr > 0) & (np.asarray(ptc.saturated_fraction) <= 1e-3)
    ax.loglog(mu[good], ptc.snr[good], "o", color="C0", ms=3, label="measured")
    top = ptc.saturation_capacity_e.value if ptc.saturation_capacity_e is not None else max(float(mu.max()), 10.0)
    x = np.logspace(math.log10(max(0.1, ptc.absolute_sensitivity_threshold_e.value / 10)), math.log10(top), 200)
    ax.loglog(x, ptc.snr_model(x), "C1-", label="model mu_e / sqrt(sigma_y.dark^2/K^2 + mu_e)")
    ax.loglog(x, np.sqrt(x), "k:", label="ideal sqrt(mu_e)")
    ax.axvline(ptc.absolute_sensitivity_threshold_e.value, color="C2", ls=":", label="threshold (SNR = 1)")
    if ptc.saturation_capacity_e is not None:
        ax.axvline(ptc.saturation_capacity_e.value, color="C3", ls="--", label="saturation")
    title = "SNR"
    if ptc.dynamic_range_db is not None:
        title += f" (dynamic range {ptc.dynamic_range_db.value:.1f} dB)"
    ax.set_title(title)
    ax.set_xlabel("signal mu_e [e-]")
    ax.set_ylabel("SNR")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_linearity(ptc, path: str | os.PathLike | None = None) -> Path | bytes:
    """Deviation from linearity [%] against the irradiation, the fit range marked."""
    fig, ax = new_figure(figsize=(6.4, 4.4))
    x, xl = _x_axis(ptc)
    lin = np.asarray(ptc.used_in_linearity, dtype=bool)
    dev = ptc.linearity_deviation_pct
    ax.plot(x[~lin], dev[~lin], "o", color="0.6", ms=3, label="outside 5-95 % of saturation")
    ax.plot(x[lin], dev[lin], "o", color="C0", ms=3, label="fit range")
    le = ptc.linearity_error_pct
    if math.isfinite(le.value):
        ax.axhline(np.nanmax(dev[lin]), color="C1", ls=":")
        ax.axhline(np.nanmin(dev[lin]), color="C1", ls=":", label=f"LE = {le.value:.3g} +/- {le.uncertainty:.2g} %")
    ax.axhline(0, color="k", lw=0.5)
    if lin.any() and np.nanmax(np.abs(dev[lin])) < 1.5:
        ax.set_ylim(-2.0, 2.0)
    ax.set_xlabel(xl)
    ax.set_ylabel("deviation from linearity [%]")
    ax.set_title("Linearity")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_dark_current(dc, ptc, path: str | os.PathLike | None = None) -> Path | bytes:
    """Dark level and dark variance against the exposure, with the straight-line fits."""
    fig, axes = new_figure(1, 2, figsize=(10.0, 4.0))
    t = dc.exposure_s * 1e3
    k = ptc.system_gain_dn_per_e.value
    axes[0].errorbar(t, dc.mean_dn, yerr=dc.mean_se_dn, fmt="o", ms=3, color="C0", label="measured")
    tt = np.linspace(0, t.max(), 50)
    axes[0].plot(tt, dc.offset_dn.value + dc.dark_current_e_per_s.value * k * tt * 1e-3, "C1-",
                 label=f"{dc.dark_current_e_per_s.value:.4g} +/- {dc.dark_current_e_per_s.uncertainty:.2g} e-/s")
    axes[0].set_xlabel("exposure [ms]")
    axes[0].set_ylabel("mu_y.dark [DN]")
    axes[0].set_title("Dark current (mean method)")
    axes[0].legend(fontsize=8)
    axes[1].errorbar(t, dc.var_dn2, yerr=dc.var_se_dn2, fmt="o", ms=3, color="C0", label="measured")
    axes[1].plot(tt, dc.dark_var_zero_dn2.value + dc.dark_current_var_e_per_s.value * k * k * tt * 1e-3, "C1-",
                 label=f"{dc.dark_current_var_e_per_s.value:.4g} +/- {dc.dark_current_var_e_per_s.uncertainty:.2g} e-/s")
    axes[1].set_xlabel("exposure [ms]")
    axes[1].set_ylabel("sigma_y.dark^2 [DN^2]")
    axes[1].set_title("Dark current (variance method)")
    axes[1].legend(fontsize=8)
    return _finish(fig, path)


def plot_spectrograms(maps, path: str | os.PathLike | None = None) -> Path | bytes:
    """Horizontal and vertical spectrograms of the DSNU (DN) and the PRNU (%)."""
    fig, axes = new_figure(2, 2, figsize=(10.0, 7.0))
    rows = (
        ("DSNU", "DN", maps.dsnu_spectrogram_h_dn, maps.dsnu_spectrogram_v_dn, maps.dsnu_spectrogram_noise_dn, maps.dsnu_dn.value),
        ("PRNU", "%", maps.prnu_spectrogram_h_pct, maps.prnu_spectrogram_v_pct, maps.prnu_spectrogram_noise_pct, 100 * maps.prnu.value),
    )
    for i, (name, unit, h, v, noise, total) in enumerate(rows):
        for j, (label, f, s) in enumerate((("horizontal", maps.spectrogram_freq_h, h), ("vertical", maps.spectrogram_freq_v, v))):
            ax = axes[i, j]
            ax.semilogy(f[1:], np.maximum(s[1:], 1e-12), "C0-", lw=1, label="spectrogram")
            ax.axhline(noise, color="C2", ls=":", label=f"temporal noise {noise:.3g} {unit}")
            ax.axhline(total, color="C3", ls="--", label=f"{name} {total:.3g} {unit}")
            ax.set_xlabel("spatial frequency [cycles/pixel]")
            ax.set_ylabel(f"standard deviation [{unit}]")
            ax.set_title(f"{name} {label} spectrogram")
            ax.legend(fontsize=7)
    return _finish(fig, path)


def plot_histograms(maps, path: str | os.PathLike | None = None) -> Path | bytes:
    """Defect-pixel histograms (log counts) and accumulated histograms of the DSNU and PRNU."""
    fig, axes = new_figure(2, 2, figsize=(10.0, 7.0))
    for i, (name, unit, edges, counts, x, pct) in enumerate((
        ("DSNU", maps.dsnu_hist_unit, maps.dsnu_hist_edges, maps.dsnu_hist_counts, maps.dsnu_accumulated_x, maps.dsnu_accumulated_pct),
        ("PRNU", "%", maps.prnu_hist_edges_pct, maps.prnu_hist_counts, maps.prnu_accumulated_x_pct, maps.prnu_accumulated_pct),
    )):
        centers = 0.5 * (edges[1:] + edges[:-1])
        ax = axes[i, 0]
        ax.semilogy(centers, np.maximum(counts, 0.5), "C0-", drawstyle="steps-mid")
        sd = float(np.sqrt(np.sum(counts * centers**2) / max(counts.sum(), 1)))
        if sd > 0:
            model = counts.sum() * (edges[1] - edges[0]) / (math.sqrt(2 * math.pi) * sd) * np.exp(-0.5 * (centers / sd) ** 2)
            ax.semilogy(centers, np.maximum(model, 0.5), "C1:", label=f"normal, sd {sd:.3g} {unit}")
            ax.legend(fontsize=7)
        ax.set_ylim(0.5, None)
        ax.set_xlabel(f"deviation from the local mean [{unit}] (5x5 high-pass)")
        ax.set_ylabel("pixels")
        ax.set_title(f"{name} histogram")
        ax = axes[i, 1]
        ax.semilogy(x, np.maximum(pct, 1e-4), "C0-")
        ax.set_xlabel(f"|deviation| [{unit}]")
        ax.set_ylabel("pixels beyond [%]")
        ax.set_title(f"{name} accumulated histogram")
    return _finish(fig, path)


def plot_maps(maps, path: str | os.PathLike | None = None) -> Path | bytes:
    """DSNU (dark) and PRNU (gain) maps as images."""
    fig, axes = new_figure(1, 2, figsize=(10.0, 4.2))
    shape = maps.image_shape
    if maps.dsnu_map_e is not None:
        d, dunit, dval = maps.dsnu_map_e, "e-", maps.dsnu_e
    else:
        d, dunit, dval = maps.dark_map_dn - maps.dark_map_dn.mean(), "DN", maps.dsnu_dn
    im = axes[0].imshow(d.reshape(shape), cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=axes[0], label=f"dark level - mean [{dunit}]")
    axes[0].set_title(f"dark image (DSNU {dval.value:.3g} {dunit})")
    im = axes[1].imshow(100.0 * maps.prnu_map.reshape(shape), cmap="magma", aspect="auto")
    fig.colorbar(im, ax=axes[1], label="relative response - 1 [%]")
    axes[1].set_title(f"flat image (PRNU {100 * maps.prnu.value:.3g} %)")
    return _finish(fig, path)


#: (file name, caption, function of an EMVA1288Result returning PNG bytes or writing a path, or
#: None when the result lacks the data)
DATASHEET_PLOTS = (
    ("photon_transfer.png", "Photon transfer", lambda r, p=None: plot_photon_transfer(r.photon_transfer, p)),
    ("sensitivity.png", "Sensitivity", lambda r, p=None: plot_sensitivity(r.photon_transfer, p)),
    ("snr.png", "Signal-to-noise ratio", lambda r, p=None: plot_snr(r.photon_transfer, p)),
    ("linearity.png", "Linearity", lambda r, p=None: plot_linearity(r.photon_transfer, p)),
    ("dark_current.png", "Dark current",
     lambda r, p=None: plot_dark_current(r.dark_current, r.photon_transfer, p) if r.dark_current is not None else None),
    ("spectrograms.png", "Spectrograms (DSNU, PRNU)",
     lambda r, p=None: plot_spectrograms(r.fixed_pattern, p) if r.fixed_pattern is not None else None),
    ("histograms.png", "Defect-pixel histograms (DSNU, PRNU)",
     lambda r, p=None: plot_histograms(r.fixed_pattern, p) if r.fixed_pattern is not None else None),
    ("maps.png", "Dark and flat images", lambda r, p=None: plot_maps(r.fixed_pattern, p) if r.fixed_pattern is not None else None),
)
