"""Plots of the throughput study: BP vs optical DFA scaling, simulator benchmark grids."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import new_figure, save_figure

__all__ = ["plot_scaling", "plot_projection_grid"]

_STYLE = {
    "bp": ("BP (GPU)", "-", "C0"),
    "dfa_digital": ("DFA, digital B (GPU)", "--", "C2"),
    "dfa_optical": ("DFA, optical B (GPU + OPU)", ":", "C3"),
}


def plot_scaling(result, path: str | os.PathLike, depths_shown: int = 3) -> Path:
    """Three panels from a :class:`photonics.scaling.ScalingResult`.

    (a) modelled step time vs hidden width for up to ``depths_shown`` depths (BP solid,
    digital DFA dashed, optical DFA dotted; a dot marks the optical-vs-BP crossover, grey
    where BP no longer fits in GPU memory); (b) crossover width and BP memory limit vs depth;
    (c) crossover width vs OPU frame rate.
    """
    rows = result.rows
    depths = sorted({r["depth"] for r in rows})
    shown = depths if len(depths) <= depths_shown else [depths[0], depths[len(depths) // 2], depths[-1]]
    fig, axes = new_figure(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    alphas = {d: a for d, a in zip(shown, (1.0, 0.7, 0.45, 0.3))}
    for d in shown:
        rr = [r for r in rows if r["depth"] == d]
        w = [r["width"] for r in rr]
        for m, (label, ls, color) in _STYLE.items():
            ax.plot(w, [r[f"{m}_s"] for r in rr], ls=ls, color=color, alpha=alphas[d], label=f"{label}, depth {d}")
        cross = next((c for c in result.crossovers if c["depth"] == d), None)
        if cross and cross["optical_vs_bp_width"]:
            wc = cross["optical_vs_bp_width"]
            t = np.interp(np.log(wc), np.log(w), [r["bp_s"] for r in rr])
            ax.plot([wc], [t], "o", color="k", alpha=alphas[d])
        lim = cross["bp_memory_limit_width"] if cross else None
        if lim is not None and lim < max(w) and d == shown[0]:
            ax.axvspan(lim, max(w), color="0.85", zorder=0, label=f"BP exceeds GPU memory (depth {d})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden width (units per layer)")
    ax.set_ylabel("modelled training-step time [s]")
    ax.set_title("(a) step time")
    ax.legend(fontsize=6.5, loc="upper left")
    ax.grid(True, which="both", alpha=0.3)

    ax = axes[1]
    cr = result.crossovers
    xs = [c["depth"] for c in cr]
    for key, label, mk in (
        ("optical_vs_bp_width", "optical DFA = BP", "o-"),
        ("optical_vs_digital_width", "optical DFA = digital DFA", "s--"),
        ("bp_memory_limit_width", "BP memory limit", "^:"),
    ):
        pts = [(x, c[key]) for x, c in zip(xs, cr) if c[key] is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], mk, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("depth (hidden layers)")
    ax.set_ylabel("hidden width")
    ax.set_title("(b) crossover width vs depth")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)

    ax = axes[2]
    for d in depths:
        pts = [(c["frame_rate_hz"], c["optical_vs_bp_width"]) for c in result.rate_crossovers if c["depth"] == d and c["optical_vs_bp_width"]]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"depth {d}")
    ax.set_xscale("log")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("OPU frame rate [Hz]")
    ax.set_ylabel("width where optical DFA = BP")
    ax.set_title("(c) crossover vs OPU rate")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    g, o = result.settings["gpu"], result.settings["opu"]
    fig.suptitle(
        f"GPU x{g['count']}: {g['flops_per_s'] / 1e12:.3g} TFLOP/s x {g['efficiency']:.2g}, {g['memory_bandwidth_bytes_per_s'] / 1e12:.3g} TB/s, "
        f"{g['memory_bytes'] / 1e9:.3g} GB | OPU {o['n_in']:.3g} x {o['n_out']:.3g} at {o['frame_rate_hz']:.4g} Hz, "
        f"{o['frames_per_error']} frames/error | batch {result.settings['base']['batch']}, d_out {result.settings['base']['d_out']}",
        fontsize=9,
    )
    return save_figure(fig, path)


def plot_projection_grid(points: list, path: str | os.PathLike) -> Path:
    """Simulator throughput relative to float32 GEMM vs batch, one line per size.

    ``points``: dicts with ``n``, ``batch``, ``noiseless_vs_gemm`` and ``noisy_vs_gemm``
    (as written by ``benchmarks/projection_grid.py``).
    """
    fig, ax = new_figure(figsize=(7, 4.5))
    sizes = sorted({p["n"] for p in points})
    for i, n in enumerate(sizes):
        pp = sorted((p for p in points if p["n"] == n), key=lambda p: p["batch"])
        b = [p["batch"] for p in pp]
        ax.plot(b, [p["noiseless_vs_gemm"] for p in pp], "o-", color=f"C{i}", label=f"noiseless, n={n}")
        ax.plot(b, [p["noisy_vs_gemm"] for p in pp], "s--", color=f"C{i}", alpha=0.6, label=f"full noise, n={n}")
    ax.axhline(0.9, color="k", lw=0.8, ls=":", label="target 0.9")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch")
    ax.set_ylabel("throughput / float32 GEMM of the same work")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)
