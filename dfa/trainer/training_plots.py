"""Plots of training runs (matplotlib only here, through photonics.plotting, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_learning_curves", "plot_alignment"]

_STYLE = {"bp": ("k", "-"), "dfa": ("tab:blue", "-"), "optical-dfa": ("tab:red", "--")}


def _style(name: str, i: int):
    return _STYLE.get(name, (f"C{(i + 3) % 10}", "-."))


def plot_learning_curves(results, path, title: str = "") -> Path:
    """Train loss (per epoch) and the test metric vs optimizer step, one line per method."""
    from photonics.plotting import new_figure, save_figure

    fig, (ax1, ax2) = new_figure(1, 2, figsize=(10, 4))
    primary = next(iter(results.values())).primary_metric
    for i, (name, r) in enumerate(results.items()):
        c, ls = _style(name, i)
        step = np.asarray(r.history["step"], dtype=float)
        tl = np.asarray(r.history["train_loss"], dtype=float)
        ok = np.isfinite(tl)
        ax1.plot(step[ok], tl[ok], color=c, ls=ls, label=name)
        key = f"test_{primary}"
        y = np.asarray(r.history[key], dtype=float) * (100 if primary == "accuracy" else 1)
        ax2.plot(step, y, color=c, ls=ls, label=f"{name}: {y[-1]:.2f}{' %' if primary == 'accuracy' else ''}")
        if primary == "loss" and "test_unigram_loss" in r.history and i == 0:
            ax2.axhline(r.history["test_unigram_loss"][-1], color="0.5", ls=":", label="unigram baseline")
    ax1.set_xlabel("optimizer step")
    ax1.set_ylabel("train loss (epoch mean) [nats]")
    ax1.set_yscale("log")
    ax2.set_xlabel("optimizer step")
    ax2.set_ylabel("test accuracy [%]" if primary == "accuracy" else "test loss [nats/char]")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_alignment(results, path) -> Path:
    """Angle between the DFA and BP updates per layer vs step (methods with diagnostics)."""
    from photonics.plotting import new_figure, save_figure

    fig, ax = new_figure(1, 1, figsize=(6.5, 4))
    for i, (name, r) in enumerate(results.items()):
        a = r.alignment
        if not a.get("step"):
            continue
        c, ls = _style(name, i)
        ang = np.asarray(a["angle_deg"], dtype=float)
        steps = np.asarray(a["step"], dtype=float)
        for j, seg in enumerate(a["segments"]):
            alpha = 1.0 - 0.55 * j / max(1, len(a["segments"]) - 1)
            ax.plot(steps, ang[:, j], color=c, ls=ls, alpha=alpha, marker="o" if len(steps) < 30 else None, ms=3,
                    label=f"{name} {seg}")
    ax.axhline(90, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(0, 100)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("angle between DFA and BP update [deg]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
