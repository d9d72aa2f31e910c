"""Figures of a sweep (matplotlib only here, through photonics.plotting, imported lazily).

From the summary of a sweep (:func:`dfa.studies.sweep.summary.summarize`):

* ``metric_vs_<parameter>.png``: the metric against each swept parameter, one line per method
  (and per combination of the other parameters, up to 6; beyond that the other parameters are
  pooled), mean over seeds with a band of +- 1 sample standard deviation; methods that do not
  depend on the parameters (BP, digital DFA in a device sweep) are horizontal references
  with their own band;
* ``privacy_vs_<parameter>.png``: epsilon of the optical error projection (per step and over
  training, worst seed) against each parameter, when the runs have a privacy report;
* ``map_<p1>_<p2>.png``: for every pair of parameters, the metric's mean over seeds (and over
  the remaining parameters) as a 2-D map, one panel per method that varies.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from dfa.studies.sweep.parameters import parameter_label, prefers_log_axis

__all__ = ["plot_sweep", "plot_metric_vs", "plot_privacy_vs", "plot_map"]

_STYLE = {"bp": ("k", "-"), "dfa": ("tab:blue", "-"), "optical-dfa": ("tab:red", "-")}
_LINESTYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 3)), "P"))
#: most lines per method in one metric-vs-parameter plot before the other parameters are pooled
MAX_LINES = 6


def _color(method: str, i: int) -> str:
    return _STYLE.get(method, (f"C{(i + 3) % 10}", "-"))[0]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)


def _scale(metric: str) -> tuple[float, str]:
    if metric in ("accuracy", "train_accuracy"):
        return 100.0, f"test {metric.replace('_', ' ')} [%]"
    if metric == "loss":
        return 1.0, "test loss [nats]"
    return 1.0, f"test {metric}"


def _values_of(summary: dict, p: str) -> list:
    seen, out = set(), []
    for g in summary["groups"]:
        if p in g["assignment"]:
            key = json.dumps(g["assignment"][p])
            if key not in seen:
                seen.add(key)
                out.append(g["assignment"][p])
    return out


def _axis(p: str, values: list):
    """(positions, log?, tick labels or None) for the values of parameter p."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    if numeric:
        x = np.asarray(values, dtype=float)
        log = bool(np.all(x > 0) and (prefers_log_axis(p) or x.max() / x.min() >= 20))
        return x, log, None
    return np.arange(len(values), dtype=float), False, [str(v) for v in values]


def _pool(groups: list) -> tuple[float | None, float | None, int]:
    vals = np.asarray([v for g in groups for v in g["values"]], dtype=float)
    if vals.size == 0:
        return None, None, 0
    return float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0, int(vals.size)


def plot_metric_vs(summary: dict, p: str, path, title: str = "") -> Path:
    """The metric against parameter ``p`` (see the module docstring)."""
    from photonics.plotting import new_figure, save_figure

    metric = summary["metric"]
    scale, ylabel = _scale(metric)
    values = _values_of(summary, p)
    x, log, labels = _axis(p, values)
    others = [q for q in summary["parameters"] if q != p]
    fig, ax = new_figure(1, 1, figsize=(7.5, 4.6))
    methods = list(dict.fromkeys(g["method"] for g in summary["groups"]))
    for i, m in enumerate(methods):
        gs = [g for g in summary["groups"] if g["method"] == m]
        color = _color(m, i)
        failed = sum(g["failed"] for g in gs)
        if summary["methods"].get(m, {}).get("reference"):
            mean, sd, n = _pool(gs[:1])
            if mean is None:
                continue
            ax.axhline(scale * mean, color=color, ls="--", lw=1.2, label=f"{m} (reference): {scale * mean:.2f} ± {scale * sd:.2f} (n={n})")
            ax.axhspan(scale * (mean - sd), scale * (mean + sd), color=color, alpha=0.12, lw=0)
            continue
        by_other: dict[str, list] = {}
        for g in gs:
            key = json.dumps({q: g["assignment"].get(q) for q in others}, sort_keys=True)
            by_other.setdefault(key, []).append(g)
        pooled = len(by_other) > MAX_LINES
        lines = {"pooled": gs} if pooled else by_other
        for j, (key, lg) in enumerate(lines.items()):
            ys, sds, xs, dots = [], [], [], []
            for xv, v in zip(x, values):
                sel = [g for g in lg if json.dumps(g["assignment"].get(p)) == json.dumps(v)]
                mean, sd, n = _pool(sel)
                if mean is not None:
                    xs.append(xv)
                    ys.append(scale * mean)
                    sds.append(scale * sd)
                    dots += [(xv, scale * val) for g in sel for val in g["values"]]
            if not xs:
                continue
            xs, ys, sds = map(np.asarray, (xs, ys, sds))
            label = m
            if others and not pooled:
                label += " (" + ", ".join(f"{q}={v}" for q, v in json.loads(key).items()) + ")"
            elif pooled:
                label += f" (pooled over {', '.join(others)})"
            if failed:
                label += f" [{failed} failed]"
            alpha = 1.0 - 0.5 * j / max(1, len(lines) - 1)
            ls, mk = _LINESTYLES[j % len(_LINESTYLES)]
            ax.plot(xs, ys, color=color, ls=ls, marker=mk, ms=4, alpha=alpha, label=label)
            ax.fill_between(xs, ys - sds, ys + sds, color=color, alpha=0.15 * alpha, lw=0)
            if dots:  # the individual seeds
                ax.scatter(*zip(*dots), s=9, color=color, alpha=0.45 * alpha, lw=0)
    if log:
        ax.set_xscale("log")
    if labels is not None:
        ax.set_xticks(x, labels)
    ax.set_xlabel(parameter_label(p))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"{title}: {metric} vs {p} (mean ± 1 sd over seeds)" if title else f"{metric} vs {p}", fontsize=9)
    return save_figure(fig, path)


def plot_privacy_vs(summary: dict, p: str, path, title: str = "") -> Path | None:
    """epsilon (per step and over training, worst seed) against parameter ``p``; None if no data.

    One line per combination of the other swept parameters (each the worst seed of its cell);
    beyond MAX_LINES combinations one line takes the worst over them too, and says so.
    """
    from photonics.plotting import new_figure, save_figure

    values = _values_of(summary, p)
    x, log, labels = _axis(p, values)
    groups = [g for g in summary["groups"] if g["epsilon_step"]]
    if not groups:
        return None
    others = [q for q in summary["parameters"] if q != p]
    fig, ax = new_figure(1, 1, figsize=(7.5, 4.6))
    methods = list(dict.fromkeys(g["method"] for g in groups))
    drawn = False
    for i, m in enumerate(methods):
        color = _color(m, i)
        gs = [g for g in groups if g["method"] == m]
        by_other: dict[str, list] = {}
        for g in gs:
            by_other.setdefault(json.dumps({q: g["assignment"].get(q) for q in others}, sort_keys=True), []).append(g)
        pooled = len(by_other) > MAX_LINES
        lines = {"pooled": gs} if pooled else by_other
        for j, (okey, lg) in enumerate(lines.items()):
            if pooled:
                where = f"worst seed and worst {', '.join(others)}"
            elif others:
                where = "worst seed; " + ", ".join(f"{q}={v}" for q, v in json.loads(okey).items())
            else:
                where = "worst seed"
            for key, style in (("epsilon_total_max", "-"), ("epsilon_step_max", ":")):
                xs, ys = [], []
                for xv, v in zip(x, values):
                    sel = [g[key] for g in lg if json.dumps(g["assignment"].get(p)) == json.dumps(v) and g[key] is not None]
                    sel = [s for s in sel if math.isfinite(s)]
                    if sel:
                        xs.append(xv)
                        ys.append(max(sel))
                if xs:
                    what = "over training" if key == "epsilon_total_max" else "per step"
                    alpha = 1.0 - 0.5 * j / max(1, len(lines) - 1)
                    ax.plot(xs, ys, color=color, ls=style, marker=_LINESTYLES[j % len(_LINESTYLES)][1], ms=4, alpha=alpha,
                            label=f"{m}: epsilon {what} ({where})")
                    drawn = True
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    ax.set_yscale("log")
    if log:
        ax.set_xscale("log")
    if labels is not None:
        ax.set_xticks(x, labels)
    delta = summary.get("privacy_delta")
    ax.set_xlabel(parameter_label(p))
    ax.set_ylabel(f"epsilon (delta = {delta:g})" if delta else "epsilon")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(f"{title}: privacy of the optical error projection" if title else "privacy of the optical error projection", fontsize=9)
    return save_figure(fig, path)


def plot_map(summary: dict, p1: str, p2: str, path, title: str = "") -> Path | None:
    """2-D map of the metric's mean over (p1, p2), one panel per varying method; None if none."""
    from photonics.plotting import new_figure, save_figure

    metric = summary["metric"]
    scale, label = _scale(metric)
    v1, v2 = _values_of(summary, p1), _values_of(summary, p2)
    methods = [m for m in dict.fromkeys(g["method"] for g in summary["groups"]) if not summary["methods"].get(m, {}).get("reference")]
    if not methods:
        return None
    fig, axes = new_figure(1, len(methods), figsize=(4.2 * len(methods) + 0.8, 3.9), squeeze=False)
    for ax, m in zip(axes[0], methods):
        grid = np.full((len(v2), len(v1)), np.nan)
        for i, a in enumerate(v1):
            for j, b in enumerate(v2):
                sel = [g for g in summary["groups"] if g["method"] == m and json.dumps(g["assignment"].get(p1)) == json.dumps(a)
                       and json.dumps(g["assignment"].get(p2)) == json.dumps(b)]
                mean, _, _ = _pool(sel)
                if mean is not None:
                    grid[j, i] = scale * mean
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        for i in range(len(v1)):
            for j in range(len(v2)):
                if np.isfinite(grid[j, i]):
                    ax.text(i, j, f"{grid[j, i]:.1f}" if scale == 100 else f"{grid[j, i]:.3g}", ha="center", va="center", fontsize=7, color="w")
        ax.set_xticks(range(len(v1)), [f"{v:.3g}" if isinstance(v, float) else str(v) for v in v1], rotation=45, fontsize=7)
        ax.set_yticks(range(len(v2)), [f"{v:.3g}" if isinstance(v, float) else str(v) for v in v2], fontsize=7)
        ax.set_xlabel(parameter_label(p1))
        ax.set_ylabel(parameter_label(p2))
        ax.set_title(m, fontsize=9)
        fig.colorbar(im, ax=ax, label=label)
    if title:
        fig.suptitle(f"{title}: {metric}, mean over seeds", fontsize=9)
    return save_figure(fig, path)


def plot_sweep(summary: dict, out_dir, title: str = "") -> list[Path]:
    """All figures of a sweep into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    params = summary["parameters"]
    for p in params:
        paths.append(plot_metric_vs(summary, p, out / f"metric_vs_{_safe(p)}.png", title))
        q = plot_privacy_vs(summary, p, out / f"privacy_vs_{_safe(p)}.png", title)
        if q is not None:
            paths.append(q)
    for i, p1 in enumerate(params):
        for p2 in params[i + 1 :]:
            q = plot_map(summary, p1, p2, out / f"map_{_safe(p1)}_{_safe(p2)}.png", title)
            if q is not None:
                paths.append(q)
    return paths
